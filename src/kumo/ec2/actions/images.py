"""DescribeImages: the images the project sees (its own, public, shared with it), as EC2
images: ``ami-``/``aki-``/``ari-`` ids (kumo.ec2.ids), kumo's image properties as their tags
(CreateTags on an image sets properties: kumo.ec2.actions.tags), os_type windows (stated or
inferred from os_distro, as the guest is built) as ``platform``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kumo.catalog.properties import ImageProperties
from kumo.compute.context import RequestContext
from kumo.compute.lookup import image_visible
from kumo.db.models import Image, ImageStatus, Visibility
from kumo.ec2 import ids
from kumo.ec2.call import Call, action
from kumo.ec2.errors import Ec2Error
from kumo.ec2.paging import paged
from kumo.errors import KumoError
from kumo.guest.facts import GuestFacts

IMAGE_TYPES = {"ami": "machine", "aki": "kernel", "ari": "ramdisk"}
#: Glance status -> EC2 image state
STATES = {ImageStatus.ACTIVE.value: "available", ImageStatus.QUEUED.value: "pending",
          "saving": "pending", "importing": "pending", "killed": "failed",
          "deactivated": "disabled", "deleted": "deregistered",
          "pending_delete": "deregistered"}
FILTERS = ("image-id", "name", "image-type", "state", "is-public", "owner-id", "platform",
           "architecture", "kernel-id", "ramdisk-id", "hypervisor", "virtualization-type",
           "root-device-type", "tag:", "tag-key", "tag-value")


def platform_of(properties: dict[str, str]) -> str | None:
    """"windows" when the guest is built as Windows (os_type stated, or inferred from
    os_distro: kumo.guest.facts), else None (EC2 names no platform for Linux)."""
    try:
        os_type = GuestFacts.resolve(ImageProperties.parse(dict(properties))).os_type
    except KumoError:  # properties the guest could not be built with: as stated
        os_type = properties.get("os_type")
    return "windows" if os_type == "windows" else None


def visible_images(s: Session, ctx: RequestContext) -> list[Image]:
    return list(s.scalars(select(Image).where(image_visible(ctx))
                          .options(selectinload(Image.property_rows))
                          .order_by(Image.created_at, Image.id)))


def find(s: Session, ctx: RequestContext, ec2_id: str,
         prefixes: tuple[str, ...] = ids.IMAGE_PREFIXES) -> Image:
    """The visible image with EC2 id ``ec2_id`` (of one of ``prefixes``); Malformed or
    NotFound as EC2 names them."""
    prefix, digits = ids.parse(ec2_id, prefixes, "InvalidAMIID.Malformed", "image")
    found = [i for i in visible_images(s, ctx)
             if ids.hex17(i.id).startswith(digits) and ids.image_prefix(i.disk_format) == prefix]
    if len(found) != 1:
        raise Ec2Error("InvalidAMIID.NotFound", f"The image id '[{ec2_id}]' does not exist")
    return found[0]


def ec2_image(image: Image) -> dict[str, Any]:
    props = dict(image.properties)
    ec2_id = ids.image_id(image.id, image.disk_format)
    kind = ec2_id.split("-")[0]
    return {
        "imageId": ec2_id,
        "imageLocation": f"{image.project_id}/{image.name}",
        "imageState": STATES.get(image.status, image.status),
        "imageOwnerId": image.project_id,
        "creationDate": image.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if image.created_at else None,
        "isPublic": image.visibility == Visibility.PUBLIC.value,
        "architecture": props.get("architecture", "x86_64"),
        "imageType": IMAGE_TYPES[kind],
        "kernelId": _ref(props.get("kernel_id"), "aki"),
        "ramdiskId": _ref(props.get("ramdisk_id"), "ari"),
        "platform": platform_of(props) if kind == "ami" else None,
        "platformDetails": ("Windows" if platform_of(props) else "Linux/UNIX")
        if kind == "ami" else None,
        "name": image.name,
        "description": props.get("description"),
        "rootDeviceType": "instance-store",
        "virtualizationType": "hvm",
        "hypervisor": props.get("hypervisor_type", "kvm"),
        "tagSet": [{"key": k, "value": v} for k, v in sorted(props.items())],
    }


def _ref(image_id: str | None, fmt: str) -> str | None:
    return ids.image_id(image_id, fmt) if image_id else None


@action("DescribeImages", ("ImageId", "Owner", "ExecutableBy", "Filter", "IncludeDeprecated",
                           "IncludeDisabled", "MaxResults", "NextToken"))
def describe_images(call: Call) -> dict[str, Any]:
    p = call.params
    wanted = p.strings("ImageId")
    if wanted and p.get("MaxResults") is not None:
        raise Ec2Error("InvalidParameterCombination", "The parameter ImageIds cannot be used "
                       "with the parameter MaxResults")
    for ec2_id in wanted:
        ids.parse(ec2_id, ids.IMAGE_PREFIXES, "InvalidAMIID.Malformed", "image")
    owners = p.strings("Owner")
    p.strings("ExecutableBy")
    filters = p.filters(FILTERS)
    include_disabled = p.boolean("IncludeDisabled")
    p.boolean("IncludeDeprecated")
    with call.env.db.session_scope(readonly=True) as s:
        items = []
        for image in visible_images(s, call.own):
            view = ec2_image(image)
            if wanted and view["imageId"] not in wanted:
                continue
            if view["imageState"] == "disabled" and not include_disabled:
                continue
            if owners and not any(o == image.project_id or (o == "self" and image.project_id
                                                            == call.ctx.project_id)
                                  for o in owners):
                continue
            if _matches(filters, view):
                items.append(view)
    missing = [w for w in wanted if w not in {i["imageId"] for i in items}]
    if missing:
        raise Ec2Error("InvalidAMIID.NotFound",
                       f"The image id '[{', '.join(missing)}]' does not exist")
    page = paged(p, "DescribeImages", items, lambda v: [v["creationDate"] or "", v["imageId"]])
    return {"imagesSet": page.items, "nextToken": page.next_token}


def _matches(filters, view: dict[str, Any]) -> bool:
    tags = {t["key"]: t["value"] for t in view["tagSet"]}
    return (filters.match("image-id", view["imageId"]) and filters.match("name", view["name"])
            and filters.match("image-type", view["imageType"])
            and filters.match("state", view["imageState"])
            and filters.match("is-public", "true" if view["isPublic"] else "false")
            and filters.match("owner-id", view["imageOwnerId"])
            and filters.match("platform", view["platform"])
            and filters.match("architecture", view["architecture"])
            and filters.match("kernel-id", view["kernelId"])
            and filters.match("ramdisk-id", view["ramdiskId"])
            and filters.match("hypervisor", view["hypervisor"])
            and filters.match("virtualization-type", view["virtualizationType"])
            and filters.match("root-device-type", view["rootDeviceType"])
            and filters.tags(tags))
