"""What a server may boot from: one set of checks for create, rebuild and set-property.

    bootable_image     the image has data and a root-disk format
    resolve_references every property that names another image (the catalog schema's
                       ``references``: kernel_id -> an aki image, ramdisk_id -> an ari image)
                       names one this project sees, with data and of that format; the value is
                       stored as the image's id (a name given would not find the image's volume
                       on a host, nor survive a rename)
    check_root_disk    the image fits the root disk (its virtual size against the flavor's disk
                       at create, against the server's disk -- what it holds a claim for -- at
                       rebuild)

``boot_source`` runs the three in that order; create and rebuild both call it, so a rebuild is
refused for every reason a create is (Nova's rebuild checks the new image against the flavor as
create does: nova/compute/api.py, _validate_flavor_image_nostatus). The guest plan on the host
(min_ram/min_disk, impossible property combinations) is servers.check_plan, also shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kumo.catalog.schema import REFERENCES
from kumo.compute.context import RequestContext
from kumo.compute.images import boot_properties
from kumo.compute.lookup import find_flavor, find_image
from kumo.db.models import Flavor, Image, ImageStatus, Instance
from kumo.errors import InvalidInput, NotFound

#: disk formats a root disk can be made from (an overlay over the image); kernels, ramdisks and
#: ISOs are not root disks
ROOT_FORMATS = ("qcow2", "raw", "vmdk", "vdi", "vhd", "vhdx")
GIB = 1 << 30


@dataclass(frozen=True)
class BootSource:
    image: Image
    #: the properties the server freezes: the image's, references resolved to image ids
    properties: dict[str, str]
    #: the flavor a create asked for (None for a rebuild)
    flavor: Flavor | None = None


def boot_source(s: Session, ctx: RequestContext, image_ref: str, *,
                flavor_ref: str | None = None, server: Instance | None = None) -> BootSource:
    """The image ``image_ref`` and the properties a server booting it records, after every
    check (see the module docstring): for a create of flavor ``flavor_ref``, or a rebuild of
    ``server`` (whose root disk -- the one it holds a claim for -- the image must fit)."""
    image = bootable_image(s, ctx, image_ref)
    flavor = find_flavor(s, ctx, flavor_ref) if flavor_ref is not None else None
    props = resolve_references(s, ctx, boot_properties(image), f"image {image_ref!r}")
    if flavor is not None:
        check_root_disk(image, image_ref, flavor.disk_gib, f"flavor {flavor.name!r}")
    if server is not None:
        check_root_disk(image, image_ref, server.disk_gib, f"server {server.name!r}")
    return BootSource(image, props, flavor)


def bootable_image(s: Session, ctx: RequestContext, ref: str) -> Image:
    image = find_image(s, ctx, ref)
    if image.status != ImageStatus.ACTIVE.value or not image.store_path:
        raise InvalidInput(f"image {ref!r} has no data (status {image.status}): create it "
                           "with a file to boot from it")
    if image.disk_format not in ROOT_FORMATS:
        raise InvalidInput(f"image {ref!r} has disk_format {image.disk_format}, which is not a "
                           f"root disk: allowed {', '.join(ROOT_FORMATS)}")
    return image


def resolve_references(s: Session, ctx: RequestContext, props: Mapping[str, str],
                       owner: str) -> dict[str, str]:
    """``props`` with every reference property checked and replaced by the id of the image it
    names; NotFound / InvalidInput naming ``owner`` ("image 'cirros'", "server 'web'"), the
    property, its value and what it must be."""
    out = dict(props)
    for prop, fmt in REFERENCES.items():
        ref = props.get(prop)
        if not ref:
            continue
        try:
            target = find_image(s, ctx, ref)
        except NotFound as e:
            raise NotFound(f"{owner} has {prop}={ref!r}, but {e}") from None
        if target.disk_format != fmt or target.status != ImageStatus.ACTIVE.value \
                or not target.store_path:
            raise InvalidInput(f"{owner} has {prop}={ref!r}, which is not an {fmt} image with "
                               f"data (disk_format {target.disk_format}, status "
                               f"{target.status})")
        out[prop] = target.id
    return out


def check_root_disk(image: Image, image_ref: str, disk_gib: int, disk_owner: str) -> None:
    if disk_gib and image.virtual_size and image.virtual_size > disk_gib * GIB:
        raise InvalidInput(f"{disk_owner} has a {disk_gib} GiB disk, smaller than image "
                           f"{image_ref!r} ({image.virtual_size / GIB:.1f} GiB virtual)")
