"""RunInstances: EC2's launch, through the create path ``kumo server create`` and the Compute
API take (kumo.compute.servers new_instance / schedule_and_record, built by
reschedule.build_in_background), so an instance launched here gets exactly the guest, key,
user data, NICs and config drive the same request gets there.

* ImageId / KernelId / RamdiskId: the project's visible images by EC2 id (kumo.ec2.ids);
  InstanceType a flavor name (EC2's default type m1.small when none is given).
* KeyName: the calling user's key pair (kumo.compute.keypairs, per user as in Nova), looked
  up by new_instance as for ``--key-name``; unknown: InvalidKeyPair.NotFound.
* UserData: base64, as EC2 carries it (boto3 and the AWS CLI encode it), kept as the
  Compute API's user_data and written decoded to the config drive's
  openstack/latest/user_data; kumo's size limit is the Compute API's (kumo.compute.user_data).
* SubnetId: a kumo network's subnet (``subnet-``, DescribeSubnets) -- the server's NIC on
  that network, PrivateIpAddress its fixed address there. Without it, the project's one
  network when it has exactly one, none when it has none (QEMU's user-mode NIC), and
  MissingParameter naming them when it has several.
* ClientToken: idempotency (kumo.ec2.idempotency).
* MinCount..MaxCount: as many as fit, at least MinCount or none (EC2's all-or-nothing),
  InsufficientInstanceCapacity naming the scheduler's reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo import logs
from kumo.compute import keypairs, reschedule
from kumo.compute import servers as service
from kumo.compute.boot_source import resolve_references
from kumo.compute.lookup import find_flavor
from kumo.compute.networks import NicRequest, network_visible
from kumo.compute.user_data import user_data_from_bytes
from kumo.db.models import Instance, Network
from kumo.ec2 import idempotency, ids
from kumo.ec2.actions import images, subnets, tags as tag_actions
from kumo.ec2.actions.instances import MAX_COUNT, ec2_instances, visible
from kumo.ec2.actions.zones import zone_names
from kumo.ec2.call import Call, action
from kumo.ec2.errors import Ec2Error, invalid
from kumo.errors import InvalidInput, KumoError, NotFound
from kumo.scheduler.errors import NoValidHost

log = logs.get(__name__)

#: parameters EC2 has that kumo does not serve: refused by name, never ignored
UNSUPPORTED = ("BlockDeviceMapping", "NetworkInterface", "IamInstanceProfile",
               "LaunchTemplate", "ElasticGpuSpecification", "InstanceMarketOptions",
               "CpuOptions", "CapacityReservationSpecification", "HibernationOptions",
               "LicenseSpecification", "EnclaveOptions", "Ipv6Address", "Ipv6AddressCount",
               "SecondaryPrivateIpAddressCount")


def _unsupported(call: Call) -> None:
    for name in UNSUPPORTED:
        if any(k == name or k.startswith(name + ".") for k in call.params.values):
            raise Ec2Error("UnsupportedOperation", f"The parameter {name} is not supported by "
                           "this cloud (kumo boots instances from an image's local root disk)")


def _counts(call: Call) -> tuple[int, int]:
    p = call.params
    min_count = p.integer("MinCount", None, 1, MAX_COUNT)
    max_count = p.integer("MaxCount", None, 1, MAX_COUNT)
    if min_count is None:
        raise Ec2Error("MissingParameter", "The request must contain the parameter MinCount")
    if max_count is None:
        raise Ec2Error("MissingParameter", "The request must contain the parameter MaxCount")
    if min_count > max_count:
        raise invalid(f"MinCount ({min_count}) is greater than MaxCount ({max_count}): allowed "
                      "MinCount <= MaxCount")
    return min_count, max_count


def _zone(call: Call) -> str | None:
    p = call.params
    if not any(k.startswith("Placement.") for k in p.values):
        return None
    for k in p.values:
        if k.startswith("Placement.") and k not in ("Placement.AvailabilityZone",
                                                    "Placement.Tenancy",
                                                    "Placement.GroupName"):
            raise Ec2Error("UnknownParameter", f"The parameter {k[:80]} is not recognized")
    if p.values.get("Placement.Tenancy", "default") != "default":
        raise invalid(f"Placement.Tenancy {p.values['Placement.Tenancy'][:40]!r} is not "
                      "supported: allowed default")
    return p.values.get("Placement.AvailabilityZone") or None


def _user_data(call: Call) -> str | None:
    data = call.params.base64("UserData")
    if data is None:
        return None
    try:
        return user_data_from_bytes(data, "UserData")
    except InvalidInput as e:
        raise invalid(str(e)) from None


def _networks(s, call: Call, count: int) -> list[NicRequest] | None:
    """The NIC the launch asks for (see the module docstring)."""
    p = call.params
    fixed = p.get("PrivateIpAddress")
    if fixed is not None and count > 1:
        raise Ec2Error("InvalidParameterCombination", "PrivateIpAddress can be given only "
                       "when launching one instance (MaxCount 1)")
    if p.get("SubnetId"):
        subnet = subnets.find_subnet(s, call, p.get("SubnetId"))
        return [NicRequest(subnet.network.uuid, fixed)]
    if fixed is not None:
        raise Ec2Error("MissingParameter", "PrivateIpAddress needs SubnetId: the subnet the "
                       "address is on")
    visible = list(s.scalars(select(Network).where(network_visible(call.own))
                             .order_by(Network.id)))
    if len(visible) > 1:
        shown = ", ".join(f"{ids.subnet_id(n.subnets[0].uuid)} ({n.name})"
                          for n in visible[:5] if n.subnets)
        raise Ec2Error("MissingParameter", "The request must contain the parameter SubnetId: "
                       f"several networks are available ({shown}; DescribeSubnets lists "
                       "them)")
    return [NicRequest(visible[0].uuid)] if visible else None


@action("RunInstances", ("ImageId", "InstanceType", "MinCount", "MaxCount", "KeyName",
                         "UserData", "KernelId", "RamdiskId", "Placement", "TagSpecification",
                         "ClientToken", "SubnetId", "PrivateIpAddress", "SecurityGroup",
                         "SecurityGroupId", "Monitoring", "DisableApiTermination",
                         "EbsOptimized", "InstanceInitiatedShutdownBehavior", "AdditionalInfo",
                         *UNSUPPORTED), mutating=True)
def run_instances(call: Call) -> dict[str, Any]:
    p, env, ctx = call.params, call.env, call.ctx
    _unsupported(call)
    image_ref = p.required("ImageId")
    min_count, max_count = _counts(call)
    instance_type = p.get("InstanceType") or "m1.small"  # EC2's default type
    for group in p.strings("SecurityGroup") + p.strings("SecurityGroupId"):
        if group != "default":
            raise Ec2Error("InvalidGroup.NotFound",
                           f"The security group '{group[:80]}' does not exist (this cloud has "
                           "only 'default')")
    user_data = _user_data(call)
    zone = _zone(call)
    token = idempotency.check_token(p.get("ClientToken")) if p.get("ClientToken") else None
    tags = tag_actions.tag_specifications(p, "instance")
    with env.db.session_scope(readonly=True) as s:
        image = images.find(s, call.own, image_ref)
        if image.disk_format in ("aki", "ari"):
            raise invalid(f"The image '{image_ref}' is a "
                          f"{images.IMAGE_TYPES[image.disk_format[:3]]} image: allowed a "
                          "machine image (ami-) as ImageId")
        try:
            flavor = find_flavor(s, call.own, instance_type)
        except NotFound:
            raise invalid(f"Invalid value '{instance_type[:80]}' for InstanceType: no such "
                          "instance type (DescribeInstanceTypes lists them)") from None
        overrides = {}
        for param, prefix, prop in (("KernelId", "aki", "kernel_id"),
                                    ("RamdiskId", "ari", "ramdisk_id")):
            if p.get(param):
                ref = p.get(param)
                ids.parse(ref, ids.IMAGE_PREFIXES, "InvalidAMIID.Malformed", "image")
                if not ref.startswith(prefix + "-"):
                    raise invalid(f"Invalid value '{ref}' for {param}: allowed a {prefix}- "
                                  "image id")
                overrides[prop] = images.find(s, call.own, ref, (prefix,)).id
        key_name = p.get("KeyName") or None
        if key_name is not None:
            try:
                keypairs.key_for_server(s, call.own, key_name)
            except NotFound:
                raise Ec2Error("InvalidKeyPair.NotFound",
                               f"The key pair '{key_name[:255]}' does not exist") from None
        if zone is not None and zone not in zone_names(s):
            raise invalid(f"Invalid availability zone: [{zone[:80]}]")
        networks = _networks(s, call, max_count)
        image_id, flavor_name = image.id, flavor.name
    reservation = ids.reservation_of(f"{ctx.request_id}")
    entry_id = None
    if token is not None:
        claimed = idempotency.claim(env, ctx, token, idempotency.request_digest(p), reservation)
        if claimed.entry_id is None:
            return answer(call, claimed.reservation, claimed.instances)
        entry_id = claimed.entry_id
    try:
        created = _launch(call, image_id, flavor_name, min_count, max_count, zone, overrides,
                          image_ref, key_name=key_name, user_data=user_data, networks=networks,
                          reservation=reservation, tags=tags, entry_id=entry_id)
    except BaseException as e:
        if entry_id is not None:
            idempotency.forget(env, ctx.project_id, token, entry_id,
                               f"refused: {e}" if str(e) else f"refused: {type(e).__name__}")
        raise
    return answer(call, reservation, created)


def _launch(call: Call, image_id: str, flavor_name: str, min_count: int, max_count: int,
            zone: str | None, overrides: dict[str, str], image_ref: str, *,
            reservation: str, tags, entry_id: int | None, **create: Any) -> list[str]:
    """Record and start building up to ``max_count`` instances (at least ``min_count``, or
    none and InsufficientInstanceCapacity); their uuids. ``entry_id``: the launch's journal
    entry (a launch with a client token, kumo.ec2.idempotency), told of each instance recorded
    and finished before any build starts."""
    env, ctx = call.env, call.ctx
    created: list[Instance] = []
    entries: list[int] = []
    try:
        for _n in range(max_count):
            instance, _host = service.new_instance(env, call.own, "ec2-instance",
                                                   image=image_id, flavor=flavor_name,
                                                   **create)
            # the server's name is its EC2 id: unique, and what an operator sees in
            # `kumo server list` matches what the EC2 client shows
            instance.name = ids.instance_id(instance.uuid)
            instance.reservation_id = reservation
            instance.availability_zone = zone
            if overrides:
                props = {**(instance.image_properties or {}), **overrides}
                with env.db.session_scope(readonly=True) as s:
                    props = resolve_references(s, call.own, props, f"image '{image_ref}'")
                instance.image_properties = props
            try:
                entries.append(service.schedule_and_record(env, ctx, instance))
            except NoValidHost as e:
                _remove_unplaced(call, instance.uuid)
                if len(created) >= min_count:
                    break
                raise Ec2Error("InsufficientInstanceCapacity",
                               f"There is not enough capacity to fulfill your request for "
                               f"{min_count} instance(s) of type {flavor_name}: {e}") from None
            created.append(instance)
            if entry_id is not None:  # LeaseLost: another controller took the launch over
                idempotency.recorded(env, entry_id, [i.uuid for i in created])
        tag_actions.set_tags(env, ctx, [i.uuid for i in created], tags)
        if entry_id is not None:
            idempotency.launched(env, entry_id, [i.uuid for i in created])
    except BaseException:
        for instance, entry in zip(created, entries):
            try:  # recorded, never built: removed with its claim, ports and journal entry
                service.withdraw_unbuilt(env, instance.uuid, entry)
            except Exception as failed:  # recovery rolls its create back
                log.warning("withdrawing instance %s of a refused RunInstances failed: %s",
                            instance.uuid, failed)
        raise
    for instance, entry in zip(created, entries):
        reschedule.build_in_background(env, ctx, entry, instance.uuid)
    return [i.uuid for i in created]


def _remove_unplaced(call: Call, uuid: str) -> None:
    """No host could take it: the ERROR record the scheduler's refusal leaves (as Nova's) is
    removed -- EC2 launches all of MinCount or nothing."""
    try:
        service.delete_server(call.env, call.ctx, uuid)
    except KumoError as e:
        log.warning("removing unplaced instance %s failed: %s", uuid, e)


def answer(call: Call, reservation: str, uuids: list[str] | None = None) -> dict[str, Any]:
    """RunInstances' answer: the reservation's instances as they are now."""
    with call.env.db.session_scope(readonly=True) as s:
        query = select(Instance).where(visible(call.ctx.project_id),
                                       Instance.reservation_id == reservation)
        if uuids is not None:
            query = query.where(Instance.uuid.in_(uuids))
        views = ec2_instances(s, list(s.scalars(query.order_by(Instance.id))))
    for index, v in enumerate(views):
        v.pop("_reservation"), v.pop("_owner"), v.pop("_launched")
        v["amiLaunchIndex"] = index
    return {"reservationId": reservation, "ownerId": call.ctx.project_id, "groupSet": [],
            "instancesSet": views}
