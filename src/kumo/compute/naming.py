"""kumo's names for what it creates on a host, and how to recognise them again.

    domain               kumo-<instance uuid>
    per-instance volume  kumo-<instance uuid>-disk | -eph0 | -config | -console.log
    image cache volume   kumo-image-<image id>              (shared by the instances on a host)

Everything kumo puts on a host carries one of these names, so what is on a host can be matched
against the database: a name kumo would make with no live instance (or image) behind it is an
orphan (reported by ``kumo host orphans``, never deleted unasked). Names outside the scheme (an
operator's own domains) are none of kumo's business.
"""

from __future__ import annotations

import re

PREFIX = "kumo-"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_DOMAIN = re.compile(rf"^kumo-({_UUID})$")
_INSTANCE_VOLUME = re.compile(rf"^kumo-({_UUID})-(disk|eph0|config|console\.log)$")
_IMAGE_VOLUME = re.compile(rf"^kumo-image-({_UUID})$")

ROOT = "disk"
EPHEMERAL = "eph0"
CONFIG = "config"
CONSOLE = "console.log"
#: per-instance volumes, in the order they are made
INSTANCE_VOLUME_KINDS = (ROOT, EPHEMERAL, CONFIG, CONSOLE)


def domain_name(instance_uuid: str) -> str:
    return f"{PREFIX}{instance_uuid}"


def volume_name(instance_uuid: str, kind: str) -> str:
    if kind not in INSTANCE_VOLUME_KINDS:
        raise ValueError(f"volume kind {kind!r}: allowed {', '.join(INSTANCE_VOLUME_KINDS)}")
    return f"{PREFIX}{instance_uuid}-{kind}"


def instance_volumes(instance_uuid: str) -> tuple[str, ...]:
    return tuple(volume_name(instance_uuid, k) for k in INSTANCE_VOLUME_KINDS)


def image_volume_name(image_id: str) -> str:
    return f"{PREFIX}image-{image_id}"


def instance_of_domain(name: str) -> str | None:
    """The instance uuid a domain name of kumo's names, else None."""
    m = _DOMAIN.match(name)
    return m.group(1) if m else None


def instance_of_volume(name: str) -> str | None:
    m = _INSTANCE_VOLUME.match(name)
    return m.group(1) if m else None


def image_of_volume(name: str) -> str | None:
    m = _IMAGE_VOLUME.match(name)
    return m.group(1) if m else None
