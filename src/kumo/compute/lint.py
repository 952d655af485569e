"""Lint an image as the API caller may see it: kumo's guest policy over the image's properties
and a flavor, for the embedded default KVM host -- what ``kumo lint --image FILE`` does with a
file, here for an image of this catalog (by id or exact name) or a Glance document given whole.
"""

from __future__ import annotations

from typing import Any

from kumo.catalog.flavor import DEFAULT_FLAVOR, Flavor
from kumo.catalog.properties import ImageDocument
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.flavors import flavor_value
from kumo.compute.images import boot_properties
from kumo.compute.lookup import find_flavor, find_image
from kumo.guest.build import plan_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.defaults import host_caps_for


def lint_image(env: ComputeEnv, ctx: RequestContext, image: str | dict[str, Any],
               flavor: str | None = None) -> list[dict[str, Any]]:
    """The findings (id, severity, message, fix) for ``image`` with ``flavor`` (a flavor's id
    or exact name, or VCPUS,RAM_MIB,DISK_GIB; default m1.medium)."""
    with env.db.session_scope(readonly=True) as s:
        if isinstance(image, str):
            row = find_image(s, ctx, image)
            properties = ImageDocument.from_json({"name": row.name,
                                                  **boot_properties(row)}).properties
        else:
            properties = ImageDocument.from_json(image).properties
        size = DEFAULT_FLAVOR
        if flavor is not None:
            size = (Flavor.parse(flavor) if flavor[:1].isdigit() and "," in flavor
                    else flavor_value(find_flavor(s, ctx, flavor)))
    plan = plan_guest(GuestRequest(image=properties, flavor=size, host=host_caps_for("kvm"),
                                   disk_format=properties.get("disk_format")))
    return [f.as_dict() for f in plan.findings]
