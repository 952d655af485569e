"""Placement explained: why each registered host would or would not take an image and flavor,
as one document -- what ``kumo placement explain`` prints, locally or from a remote controller
through the API's kumo extension (``GET /kumo/v1/placement/explain``).

The image and flavor are found as the caller may see them (kumo.compute.lookup); like a create,
the hosts whose heartbeat is stale are asked first whether they answer (kumo.compute.heartbeat),
so the document says what a create would meet. Admin-only: it shows every host's inventory
(Nova policy os_compute_api:os-hypervisors).
"""

from __future__ import annotations

from typing import Any

from kumo.compute import heartbeat
from kumo.compute.context import HYPERVISORS, RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.flavors import flavor_value
from kumo.compute.images import boot_properties
from kumo.compute.lookup import find_flavor, find_image
from kumo.scheduler import service
from kumo.scheduler.config import SchedulerConfig

COLUMNS = ("host", "result", "weight", "reasons / weights")


def explain_placement(env: ComputeEnv, ctx: RequestContext, image_ref: str, flavor_ref: str, *,
                      availability_zone: str | None = None, hosts: tuple[str, ...] = (),
                      config: SchedulerConfig | None = None) -> dict[str, Any]:
    """The image, the flavor, every host's verdict (Explanation.to_dict) and the summary."""
    ctx.require_admin(f"placement explain, which shows every host's inventory (Nova policy "
                      f"{HYPERVISORS})")
    config = config or service.load_config(settings=env.settings)
    with env.db.session_scope(readonly=True) as s:
        image = find_image(s, ctx, image_ref)
        flavor = find_flavor(s, ctx, flavor_ref)
        spec = service.request_spec(boot_properties(image), flavor_value(flavor),
                                    availability_zone=availability_zone)
        subject = {"image": {"id": image.id, "name": image.name},
                   "flavor": {"id": flavor.flavorid, "name": flavor.name,
                              "vcpus": flavor.vcpus, "ram": flavor.ram_mib,
                              "disk": flavor.disk_gib + flavor.ephemeral_gib}}
    heartbeat.refresh_stale(env, config, hosts or None)
    result = service.explain(env.db, spec, config, hosts=hosts or None)
    return {**subject, **result.to_dict()}


def rows(document: dict[str, Any]) -> list[dict[str, str]]:
    """The table rows of an explanation document (the same text Explanation.table shows)."""
    out = []
    for h in document["hosts"]:
        if h["passed"]:
            state = "chosen" if h["host"] == document["chosen"] else "pass"
            details = ", ".join(f"{w['weigher']} {w['normalised']:.3f}x{w['multiplier']:g}"
                                for w in h["weights"])
        else:
            state = "FAIL"
            details = "; ".join(f"{f['plugin']}: {r['text']}" for f in h["failed"]
                                for r in f["reasons"])
        out.append({"host": h["host"], "result": state,
                    "weight": "-" if h["total"] is None else f"{h['total']:.4f}",
                    "reasons / weights": details})
    return out


def title(document: dict[str, Any]) -> str:
    f, image = document["flavor"], document["image"]
    return (f"placement of image {image['name'] or image['id']} with flavor {f['name']} "
            f"({f['vcpus']} vCPU, {f['ram']} MiB RAM, {f['disk']} GiB disk)")
