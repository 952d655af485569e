"""Audit check ``properties``: an instance's frozen image properties vs its image's current ones.

An instance keeps the properties its image had at boot (seed 001: the image gained
os_type=windows, every existing guest kept none and its clock stayed 8 hours off). Each property
the image has gained, changed or lost since is a finding, with when the image got it
(image_properties.updated_at; "when not recorded" for values older than that record). A key the
instance's own set-property changed is the operator's choice: reported at info, saying that
``kumo reconcile --from-image`` replaces it and how to keep it. Then the consequence: the guest
configuration ``kumo reconcile --from-image`` would give (its very rule,
kumo.compute.reconcile.refrozen, and the same guest rules, kumo.compute.domain_config.desired)
against the one the record gives, each facet that would change a finding of its own
("image-clock-offset", ...).
"""

from __future__ import annotations

from datetime import datetime

from kumo.audit.expected import Expected
from kumo.audit.findings import Finding
from kumo.audit.snapshot import ImageNow, Override
from kumo.compute.reconcile import refrozen
from kumo.db.models import Host, Instance
from kumo.errors import KumoError


def when(at: datetime | None) -> str:
    return f"on {at:%Y-%m-%d %H:%M} UTC" if at is not None else "at a time not recorded"


def check(exp: Expected, instance: Instance, host: Host, image: ImageNow | None,
          overrides: dict[str, Override]) -> list[Finding]:
    if not instance.image_id:
        return []

    def finding(id: str, severity: str, message: str, fix: str) -> Finding:
        return Finding(id, severity, "properties", message, fix, instance.uuid, instance.name,
                       host.name, instance.project_id)

    if image is None:
        return [finding("image-gone", "info",
                        f"image {instance.image_id} no longer exists: this instance keeps "
                        "the properties frozen at its boot", "nothing to do")]
    frozen = dict(instance.image_properties or {})
    now = image.properties
    changes, kept = [], []
    for key in sorted(set(frozen) | set(now)):
        have, got = frozen.get(key), now.get(key)
        if have == got:
            continue
        if key in overrides:
            o = overrides[key]
            keep = f"--set-property {key}={have}" if have is not None else \
                f"--unset-property {key}"
            kept.append(finding(
                "image-property-overridden", "info",
                f"image has {_pair(key, got)}, this instance {_pair(key, have)} as set by "
                f"set-property {when(o.when)} (request {o.request_id}): an operator's choice, "
                "which kumo reconcile --from-image replaces with the image's",
                f"nothing to do; to keep it through kumo reconcile --from-image, give {keep} "
                "with it"))
            continue
        if have is None:
            text = (f"image gained {key}={got} {when(image.changed.get(key))}; this instance "
                    "still has none")
        elif got is None:
            text = (f"image no longer has {key} (image last changed {when(image.updated_at)}"
                    f"); this instance still has {key}={have}")
        else:
            text = (f"image's {key} is {got} since {when(image.changed.get(key))}; this "
                    f"instance still has {key}={have}")
        changes.append(text)
    if not changes:
        return kept
    fix = f"kumo reconcile --from-image --instance {instance.uuid} (plan), then --apply"
    # what --from-image gives it: the one rule (overrides replaced too, the fix above says how
    # to keep one)
    target = refrozen(frozen, now)
    consequences: list[Finding] = []
    try:
        record = exp.facets(instance, host)
    except KumoError:
        record = None  # the record itself is refused: the config check reports it
    try:
        from_image = exp.facets(instance, host, target)
    except KumoError as e:
        consequences.append(finding(
            "image-refused", "warning",
            f"the image's current properties cannot build this guest on host {host.name}: {e}",
            "fix the image's properties before reconciling this instance"))
    else:
        if record is not None and from_image is not None:
            for d in exp.compare(from_image, record):
                consequences.append(finding(
                    f"image-{d.id}", d.severity,
                    f"with its image's current properties the guest's {d.element} would be "
                    f"{d.want or 'absent'}; its record gives {d.have or 'absent'}: "
                    f"{d.consequence}", fix))
    severity = "warning" if consequences else "info"
    suffix = "" if consequences else ": the guest's configuration would not change"
    return [*(finding("image-property", severity, text + suffix, fix) for text in changes),
            *consequences, *kept]


def _pair(key: str, value: str | None) -> str:
    return f"{key}={value}" if value is not None else f"no {key}"
