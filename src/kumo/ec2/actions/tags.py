"""CreateTags, DeleteTags, DescribeTags.

An instance's tags are kept for it (ec2_tags). An image's tags are its properties -- one
answer: DescribeImages shows the properties as tags, and CreateTags/DeleteTags on an image set
and unset properties through the image service (owner only, validated by the catalog: a bad
os_type is refused as ``kumo image set`` refuses it, and the next server built from the image
is built with the new value).

Amazon's limits: a key is 1 to 128 characters and may not start with ``aws:``; a value 0 to
256; a resource has at most 50 tags.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.catalog.names import forbidden_character
from kumo.compute import images as image_service
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.db.models import Ec2Tag, Image
from kumo.ec2 import ids
from kumo.ec2.call import Call, action
from kumo.ec2.errors import Ec2Error, from_kumo, invalid
from kumo.ec2.paging import paged
from kumo.errors import KumoError

KEY_MAX, VALUE_MAX, PER_RESOURCE = 128, 256, 50
RESOURCE_TYPES = ("instance", "image")
FILTERS = ("resource-id", "resource-type", "key", "value", "tag:")


def check_tag(key: str, value: str) -> None:
    if not 1 <= len(key) <= KEY_MAX:
        raise invalid(f"Tag key {key[:40]!r} is invalid: allowed 1 to {KEY_MAX} characters")
    if key.lower().startswith("aws:"):
        raise invalid(f"Tag key {key[:40]!r} is invalid: keys starting with 'aws:' are "
                      "reserved for internal use")
    if len(value) > VALUE_MAX:
        raise invalid(f"Tag value for key {key[:40]!r} is invalid: allowed 0 to {VALUE_MAX} "
                      "characters")
    for what, text in (("key", key), ("value", value)):
        bad = forbidden_character(text)
        if bad is not None or "\x00" in text:
            raise invalid(f"Tag {what} {text[:40]!r} is invalid: it contains a control "
                          "character")


def _tags(p, prefix: str = "Tag", need_value: bool = True) -> list[tuple[str, str | None]]:
    out = []
    for t in p.structs(prefix, ("Key", "Value")):
        key = t.values.get("Key")
        if key is None:
            raise Ec2Error("MissingParameter", f"The request must contain the parameter "
                                               f"{prefix}.N.Key")
        value = t.values.get("Value")
        if need_value and value is None:
            value = ""
        check_tag(key, value or "")
        out.append((key, value))
    return out


def tag_specifications(p, resource_type: str) -> dict[str, str]:
    """RunInstances' TagSpecification.N (ResourceType, Tag.M.Key/Value): the tags for
    ``resource_type``; another type is InvalidParameterValue."""
    tags: dict[str, str] = {}
    for spec in p.structs("TagSpecification", ("ResourceType", "Tag")):
        kind = spec.values.get("ResourceType")
        if kind != resource_type:
            raise invalid(f"'{(kind or '')[:40]}' is not a valid taggable resource type for "
                          f"this operation: allowed {resource_type}")
        for key, value in _tags(spec):
            tags[key] = value or ""
    if len(tags) > PER_RESOURCE:
        raise Ec2Error("TagLimitExceeded", f"The maximum number of tags ({PER_RESOURCE}) for "
                       "a resource was exceeded")
    return tags


def tags_of(s: Session, uuids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    if uuids:
        for t in s.scalars(select(Ec2Tag).where(Ec2Tag.instance_uuid.in_(uuids))):
            out.setdefault(t.instance_uuid, {})[t.key] = t.value
    return out


def set_tags(env: ComputeEnv, ctx: RequestContext, uuids: list[str],
             tags: dict[str, str]) -> None:
    if not tags or not uuids:
        return
    with env.db.session_scope() as s:
        have = tags_of(s, uuids)
        for uuid in uuids:
            if len(set(have.get(uuid, {})) | set(tags)) > PER_RESOURCE:
                raise Ec2Error("TagLimitExceeded", f"The maximum number of tags "
                               f"({PER_RESOURCE}) for resource '{ids.instance_id(uuid)}' was "
                               "exceeded")
            for key, value in tags.items():
                row = s.get(Ec2Tag, (uuid, key))
                if row is None:
                    s.add(Ec2Tag(instance_uuid=uuid, key=key, value=value,
                                 project_id=ctx.project_id))
                else:
                    row.value = value


def _resources(call: Call) -> tuple[list[str], list[Image]]:
    """ResourceId.N split into the project's instance uuids and its images."""
    from kumo.ec2.actions import images
    from kumo.ec2.actions.instances import find_instances

    refs = call.params.strings("ResourceId")
    if not refs:
        raise Ec2Error("MissingParameter", "The request must contain the parameter ResourceId")
    instances, image_refs = [], []
    for ref in refs:
        if ref.startswith("i-"):
            instances.append(ref)
        elif ref.split("-", 1)[0] in ids.IMAGE_PREFIXES:
            image_refs.append(ref)
        else:
            raise Ec2Error("InvalidID", f"The ID '{ref[:80]}' is not valid: allowed instance "
                                        "(i-) and image (ami-, aki-, ari-) ids")
    with call.env.db.session_scope(readonly=True) as s:
        uuids = [i.uuid for i in find_instances(s, call, instances)] if instances else []
        found = [images.find(s, call.own, r) for r in image_refs]
        for image in found:
            s.expunge(image)
    return uuids, found


def _image_update(call: Call, image: Image, **changes: Any) -> None:
    try:
        image_service.update_image(call.env, call.ctx, image.id, **changes)
    except KumoError as e:
        raise from_kumo(e) from None


@action("CreateTags", ("ResourceId", "Tag"), mutating=True)
def create_tags(call: Call) -> dict[str, Any]:
    tags = {k: v or "" for k, v in _tags(call.params)}
    if not tags:
        raise Ec2Error("MissingParameter", "The request must contain the parameter Tag")
    uuids, found = _resources(call)
    for image in found:
        if not call.ctx.owns(image.project_id):
            raise Ec2Error("UnauthorizedOperation", "You are not authorized to perform this "
                           f"operation: image '{ids.image_id(image.id, image.disk_format)}' "
                           "belongs to another project", 403)
    set_tags(call.env, call.ctx, uuids, tags)
    for image in found:
        _image_update(call, image, set_properties=tags)
    return {"return": True}


@action("DeleteTags", ("ResourceId", "Tag"), mutating=True)
def delete_tags(call: Call) -> dict[str, Any]:
    given = _tags(call.params, need_value=False)
    uuids, found = _resources(call)
    with call.env.db.session_scope() as s:
        for uuid in uuids:
            stmt = delete(Ec2Tag).where(Ec2Tag.instance_uuid == uuid)
            if given:
                for key, value in given:
                    one = stmt.where(Ec2Tag.key == key)
                    s.execute(one if value is None else one.where(Ec2Tag.value == value))
            else:  # no Tag: every tag of the resource, as EC2 does
                s.execute(stmt)
    for image in found:
        if not given:
            raise invalid("DeleteTags on an image needs the keys (Tag.N.Key): an image's tags "
                          "are its properties, which its guests are built from")
        props = dict(image.properties)
        keys = [k for k, v in given if k in props and (v is None or props[k] == v)]
        if keys:
            _image_update(call, image, unset=keys)
    return {"return": True}


@action("DescribeTags", ("Filter", "MaxResults", "NextToken"))
def describe_tags(call: Call) -> dict[str, Any]:
    from kumo.db.models import Instance
    from kumo.ec2.actions.instances import visible

    filters = call.params.filters(FILTERS)
    rows: list[dict[str, str]] = []
    with call.env.db.session_scope(readonly=True) as s:
        for t in s.scalars(select(Ec2Tag).join(Instance, Instance.uuid == Ec2Tag.instance_uuid)
                           .where(visible(call.ctx.project_id))
                           .order_by(Ec2Tag.instance_uuid, Ec2Tag.key)):
            rows.append({"resourceId": ids.instance_id(t.instance_uuid),
                         "resourceType": "instance", "key": t.key, "value": t.value})
        for image in s.scalars(select(Image).where(Image.project_id == call.ctx.project_id)
                               .order_by(Image.created_at, Image.id)):
            for key, value in sorted(image.properties.items()):
                rows.append({"resourceId": ids.image_id(image.id, image.disk_format),
                             "resourceType": "image", "key": key, "value": value})
    items = [r for r in rows if filters.match("resource-id", r["resourceId"])
             and filters.match("resource-type", r["resourceType"])
             and filters.match("key", r["key"]) and filters.match("value", r["value"])
             and filters.tags({r["key"]: r["value"]})]
    page = paged(call.params, "DescribeTags", items, lambda r: [r["resourceId"], r["key"]],
                 low=5)
    return {"tagSet": page.items, "nextToken": page.next_token}
