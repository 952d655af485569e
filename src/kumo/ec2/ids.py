"""EC2 ids from kumo's ids, stably and without a mapping table.

An EC2 id is a prefix and 17 lowercase hex digits (the long form AWS has used since 2016,
i-0123456789abcdef0). kumo's instance and image ids are uuids: the EC2 id is the prefix and the
first 17 hex digits of the uuid, so it never changes, needs no storage, and every controller
computes the same one; the reverse is a prefix match on the uuid (68 bits: two records sharing
one is an ambiguity refused, not a silent pick). An image id that is not a uuid (the Image API
accepts a caller's own id) uses the first 17 hex digits of its sha256 instead.

The prefix of an image says what it is, as EC2 and Eucalyptus had it: ``aki-`` a kernel
(disk_format aki), ``ari-`` a ramdisk (ari), ``ami-`` a machine image (anything else).
Reservations (``r-``) are recorded per RunInstances call; an instance created otherwise has
one of its own, derived the same way from its uuid.
"""

from __future__ import annotations

import hashlib
import re
import uuid as uuidlib

from kumo.ec2.errors import Ec2Error

HEX = 17
_ID = re.compile(r"^(?P<prefix>[a-z]+)-(?P<hex>[0-9a-f]{8}|[0-9a-f]{17})$")
IMAGE_PREFIXES = ("ami", "aki", "ari")


def hex17(os_id: str) -> str:
    try:
        return uuidlib.UUID(os_id).hex[:HEX]
    except ValueError:
        return hashlib.sha256(os_id.encode()).hexdigest()[:HEX]


def instance_id(uuid: str) -> str:
    return f"i-{hex17(uuid)}"


def reservation_of(uuid: str) -> str:
    return f"r-{hashlib.sha256(uuid.encode()).hexdigest()[:HEX]}"


def image_prefix(disk_format: str | None) -> str:
    return disk_format if disk_format in ("aki", "ari") else "ami"


def image_id(os_id: str, disk_format: str | None) -> str:
    return f"{image_prefix(disk_format)}-{hex17(os_id)}"


def parse(ec2_id: str, prefixes: tuple[str, ...], code: str, what: str) -> tuple[str, str]:
    """(prefix, hex digits) of a well-formed id; Ec2Error ``code`` (a .Malformed one)
    otherwise."""
    m = _ID.match(ec2_id) if isinstance(ec2_id, str) else None
    if m is None or m["prefix"] not in prefixes:
        shown = ec2_id if len(ec2_id) <= 64 else ec2_id[:64] + "..."
        raise Ec2Error(code, f'Invalid id: "{shown}" (expecting "{prefixes[0]}-..." {what} '
                             "ids: a prefix and 8 or 17 hex digits)")
    return m["prefix"], m["hex"]


def uuid_like(hex_digits: str) -> str:
    """A SQL LIKE pattern matching the uuids whose hex starts with ``hex_digits``."""
    dashed = ""
    for i, c in enumerate(hex_digits):
        if i in (8, 12, 16, 20):
            dashed += "-"
        dashed += c
    return dashed + "%"


def subnet_id(uuid: str) -> str:
    """A kumo network's subnet as EC2 names a subnet (``subnet-``): kumo networks have one
    subnet each, and the network is its VPC (``vpc-``, vpc_id)."""
    return f"subnet-{hex17(uuid)}"


def vpc_id(network_uuid: str) -> str:
    return f"vpc-{hex17(network_uuid)}"
