"""Flavors: create, list, show, set, delete (operator actions, as in Nova).

A flavor's size is checked by the catalog's Flavor; its extra specs that set a guest property
(``hw:disk_bus``, ``os:secure_boot``, ...) are validated like image properties, so a typo fails
here and not at the first boot. Whether a flavor and an image conflict is decided per boot
(kumo.catalog.flavor.effective_properties), naming both sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select

from kumo.catalog.flavor import Flavor as FlavorValue
from kumo.catalog.flavor import effective_properties
from kumo.catalog.names import check_name, check_pairs
from kumo.catalog.properties import ImageProperties
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import check_unclaimed, find_flavor, flavor_visible
from kumo.db.models import Flavor, Instance
from kumo.errors import InvalidInput


def create_flavor(env: ComputeEnv, ctx: RequestContext, name: str, *, vcpus: int,
                  ram_mib: int, disk_gib: int = 0, ephemeral_gib: int = 0,
                  extra_specs: Mapping[str, str] | None = None, flavorid: str | None = None,
                  is_public: bool = True, description: str | None = None) -> dict[str, Any]:
    ctx.require_admin("creating a flavor")
    check_name("flavor", name)
    if flavorid is not None:
        check_name("flavor", flavorid, "id")
    specs = {str(k): str(v) for k, v in (extra_specs or {}).items()}
    check_pairs("extra spec", specs)
    value = FlavorValue(vcpus, ram_mib, disk_gib, name=name, ephemeral_gib=ephemeral_gib,
                        extra_specs=specs)
    effective_properties(ImageProperties(), value)  # InvalidProperty naming a bad extra spec
    with env.db.session_scope() as s:
        if s.scalar(select(Flavor.id).where(Flavor.name == name)) is not None:
            raise InvalidInput(f"flavor name {name!r} is already taken")
        if flavorid and s.scalar(select(Flavor.id).where(Flavor.flavorid == flavorid)):
            raise InvalidInput(f"flavor id {flavorid!r} is already taken")
        check_unclaimed(s, "flavor", name=name, ident=flavorid or None)
        flavor = Flavor(name=name, vcpus=vcpus, ram_mib=ram_mib, disk_gib=disk_gib,
                        ephemeral_gib=ephemeral_gib, is_public=is_public,
                        description=description)
        if flavorid:
            flavor.flavorid = flavorid
        flavor.extra_specs.update(specs)
        s.add(flavor)
        s.flush()
        return flavor_view(flavor)


def list_flavors(env: ComputeEnv, ctx: RequestContext) -> list[dict[str, Any]]:
    with env.db.session_scope(readonly=True) as s:
        rows = s.scalars(select(Flavor).where(flavor_visible(ctx))
                         .order_by(Flavor.ram_mib, Flavor.vcpus, Flavor.name))
        return [flavor_view(f) for f in rows]


def show_flavor(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    with env.db.session_scope(readonly=True) as s:
        return flavor_view(find_flavor(s, ctx, ref))


def update_flavor(env: ComputeEnv, ctx: RequestContext, ref: str, *,
                  set_specs: Mapping[str, str] | None = None, unset: Iterable[str] = (),
                  clear: bool = False, description: str | None = None) -> dict[str, Any]:
    """Change a flavor's extra specs (validated as at create) or description. Its size is
    immutable, as in Nova; servers keep the copy they were booted with."""
    ctx.require_admin("changing a flavor")
    set_specs = {str(k): str(v) for k, v in (set_specs or {}).items()}
    unset = list(unset)
    if not set_specs and not unset and not clear and description is None:
        raise InvalidInput("nothing to change: give --property KEY=VALUE, --no-property or "
                           "--description")
    with env.db.session_scope() as s:
        flavor = find_flavor(s, ctx, ref)
        specs = {} if clear else dict(flavor.extra_specs)
        missing = [k for k in unset if k not in specs]
        if missing:
            raise InvalidInput(f"flavor {ref!r} has no extra spec {', '.join(missing)}")
        specs = {k: v for k, v in specs.items() if k not in unset} | set_specs
        value = FlavorValue(flavor.vcpus, flavor.ram_mib, flavor.disk_gib, name=flavor.name,
                            ephemeral_gib=flavor.ephemeral_gib, extra_specs=specs)
        effective_properties(ImageProperties(), value)  # InvalidProperty naming a bad spec
        flavor.extra_specs.clear()
        s.flush()
        flavor.extra_specs.update(specs)
        if description is not None:
            flavor.description = description
        s.flush()
        return flavor_view(flavor)


def delete_flavor(env: ComputeEnv, ctx: RequestContext, ref: str) -> tuple[str, int]:
    """Delete a flavor; returns its id and how many live servers were booted from it. They keep
    their own copy (vcpus, RAM, disks and extra specs are stored on the instance), so -- as in
    Nova -- deleting a flavor in use is allowed: nothing reads the flavor row again."""
    ctx.require_admin("deleting a flavor")
    with env.db.session_scope() as s:
        flavor = find_flavor(s, ctx, ref)
        flavorid = flavor.flavorid
        users = s.scalar(select(func.count()).select_from(Instance).where(
            Instance.flavor_id == flavorid, Instance.deleted.is_(False))) or 0
        s.delete(flavor)
    return flavorid, users


def flavor_value(flavor: Flavor) -> FlavorValue:
    """The catalog's Flavor for a stored one (what guest policy takes)."""
    return FlavorValue(flavor.vcpus, flavor.ram_mib, flavor.disk_gib, name=flavor.name,
                       ephemeral_gib=flavor.ephemeral_gib, extra_specs=dict(flavor.extra_specs))


def flavor_view(flavor: Flavor) -> dict[str, Any]:
    return {"id": flavor.flavorid, "name": flavor.name, "vcpus": flavor.vcpus,
            "ram": flavor.ram_mib, "disk": flavor.disk_gib, "ephemeral": flavor.ephemeral_gib,
            "is_public": flavor.is_public, "description": flavor.description,
            "extra_specs": dict(sorted(flavor.extra_specs.items()))}
