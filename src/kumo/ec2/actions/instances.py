"""Instances: RunInstances, DescribeInstances, Start/Stop/Reboot/TerminateInstances,
GetPasswordData -- over the service layer ``kumo server`` and the Compute API use
(kumo.compute.servers), so an instance launched here is built exactly as ``kumo server
create`` builds it: the same validation, scheduler, guest policy (a Windows image's localtime
clock and enlightenments), journal and recovery.

EC2's asynchrony: RunInstances answers once the instances are validated, placed and recorded
(pending) and builds them on worker threads (as the Compute API's create); Start/Stop/Reboot/
Terminate record the operation (journaled, the server busy) and carry it out on a worker
thread, answering at once with the state it is heading through (a graceful stop may take the
guest's shutdown time, longer than a client waits for an answer). Terminating a pending
instance (its build running) queues the delete behind the build, which stops at its next step
(kumo.compute.pending_delete): AWS terminates pending instances, Nova deletes servers in BUILD.

States (EC2's codes): pending 0, running 16, shutting-down 32, terminated 48, stopping 64,
stopped 80. A server in ERROR is shown with a ``stateReason`` (Server.InternalError and its
fault): ``terminated`` when its build failed (it is on no host), else ``stopped``. Terminated
instances stay visible for an hour, as EC2 keeps them.

Tenancy: a credential sees and acts on its own project's instances only; another project's
instance id is InvalidInstanceID.NotFound, exactly as one that never existed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from kumo import logs
from kumo.compute import background, pending_delete
from kumo.compute import servers as service
from kumo.db.models import Host, Image, Instance, Port
from kumo.ec2 import ids
from kumo.ec2.actions import images, tags as tag_actions
from kumo.ec2.call import Call, action
from kumo.ec2.errors import Ec2Error
from kumo.ec2.idempotency import tokens_of
from kumo.ec2.paging import paged
from kumo.errors import StateError
from kumo.scheduler.inventory import DEFAULT_ZONE, zone_of

log = logs.get(__name__)

PENDING, RUNNING, SHUTTING_DOWN, TERMINATED, STOPPING, STOPPED = (
    (0, "pending"), (16, "running"), (32, "shutting-down"), (48, "terminated"),
    (64, "stopping"), (80, "stopped"))
#: how long a terminated instance stays visible (EC2: about an hour)
TERMINATED_VISIBLE = timedelta(hours=1)
#: instances one RunInstances may launch
MAX_COUNT = 50
FILTERS = ("instance-id", "instance-state-name", "instance-state-code", "instance-type",
           "image-id", "key-name", "availability-zone", "reservation-id", "platform",
           "kernel-id", "ramdisk-id", "tag:", "tag-key", "tag-value")


def state(i: Instance) -> tuple[int, str]:
    if i.deleted:
        return TERMINATED
    vm, task = i.vm_state, i.task_state
    if task == "deleting":
        return SHUTTING_DOWN
    if vm == "building":
        return PENDING
    if vm == "active":
        return STOPPING if task == "powering-off" else RUNNING
    if vm == "stopped":
        return PENDING if task == "powering-on" else STOPPED
    if vm == "error":
        return TERMINATED if i.host_id is None else STOPPED
    return PENDING


def _state_view(i: Instance) -> dict[str, Any]:
    code, name = state(i)
    return {"code": code, "name": name}


# --- finding instances ---------------------------------------------------------------------------

def visible(project_id: str):
    """The project's instances EC2 shows: all but those terminated over an hour ago."""
    now = datetime.now(timezone.utc)
    return and_(Instance.project_id == project_id,
                or_(Instance.deleted.is_(False), Instance.deleted_at > now - TERMINATED_VISIBLE))


def find_instances(s: Session, call: Call, ec2_ids: list[str]) -> list[Instance]:
    """The project's instances with these ids (each Malformed or NotFound as EC2 names it;
    one error naming every id not found)."""
    rows, missing = [], []
    for ec2_id in ec2_ids:
        _p, digits = ids.parse(ec2_id, ("i",), "InvalidInstanceID.Malformed", "instance")
        found = list(s.scalars(select(Instance).where(
            visible(call.ctx.project_id),
            Instance.uuid.like(ids.uuid_like(digits)))))
        if len(found) != 1:
            missing.append(ec2_id)
        else:
            rows.append(found[0])
    if missing:
        raise Ec2Error("InvalidInstanceID.NotFound", f"The instance ID"
                       f"{'s' if len(missing) > 1 else ''} '{', '.join(missing)}' do"
                       f"{'' if len(missing) > 1 else 'es'} not exist")
    return rows


def _instance_ids(call: Call) -> list[str]:
    wanted = call.params.strings("InstanceId")
    if not wanted:
        raise Ec2Error("MissingParameter", "The request must contain the parameter InstanceId")
    return wanted


# --- the view ------------------------------------------------------------------------------------

def ec2_instances(s: Session, rows: list[Instance]) -> list[dict[str, Any]]:
    """Each instance as EC2 shows it (with its reservation id under ``_reservation``)."""
    uuids = [i.uuid for i in rows]
    tags = tag_actions.tags_of(s, uuids)
    image_ids = {i.image_id for i in rows if i.image_id}
    formats = dict(s.execute(select(Image.id, Image.disk_format)
                             .where(Image.id.in_(image_ids))).all()) if image_ids else {}
    host_ids = {i.host_id for i in rows if i.host_id}
    zones = {h.id: zone_of(h) for h in s.scalars(
        select(Host).where(Host.id.in_(host_ids)).options(selectinload(Host.aggregates)))} \
        if host_ids else {}
    first_nic = {}
    for port in s.scalars(select(Port).where(Port.instance_uuid.in_(uuids))
                          .order_by(Port.device_index.desc())):
        first_nic[port.instance_uuid] = port
    tokens = {}
    for project in {i.project_id for i in rows}:
        tokens.update(tokens_of(s, project, {i.reservation_id for i in rows
                                             if i.project_id == project and i.reservation_id}))
    out = []
    for i in rows:
        props = dict(i.image_properties or {})
        nic = first_nic.get(i.uuid)
        platform = images.platform_of(props)
        view: dict[str, Any] = {
            "instanceId": ids.instance_id(i.uuid),
            "imageId": ids.image_id(i.image_id, formats.get(i.image_id)) if i.image_id
            else None,
            "instanceState": _state_view(i),
            "privateDnsName": "", "dnsName": "",
            "reason": "",
            "keyName": i.key_name,
            "amiLaunchIndex": 0,
            "productCodes": [],
            "instanceType": i.flavor_name,
            "launchTime": _time(i.launched_at or i.created_at),
            "placement": {"availabilityZone": i.availability_zone
                          or zones.get(i.host_id) or DEFAULT_ZONE,
                          "groupName": "", "tenancy": "default"},
            "kernelId": ids.image_id(props["kernel_id"], "aki") if props.get("kernel_id")
            else None,
            "ramdiskId": ids.image_id(props["ramdisk_id"], "ari") if props.get("ramdisk_id")
            else None,
            "platform": platform,
            "platformDetails": "Windows" if platform else "Linux/UNIX",
            "monitoring": {"state": "disabled"},
            "groupSet": [],
            "architecture": props.get("architecture", "x86_64"),
            "rootDeviceType": "instance-store",
            "blockDeviceMapping": [],
            "virtualizationType": "hvm",
            "hypervisor": props.get("hypervisor_type", "kvm"),
            "tagSet": [{"key": k, "value": v} for k, v in sorted(tags.get(i.uuid, {}).items())],
            # the first NIC's network as EC2 shows a subnet (kumo.ec2.actions.subnets)
            "subnetId": ids.subnet_id(nic.subnet.uuid) if nic else None,
            "vpcId": ids.vpc_id(nic.network.uuid) if nic else None,
            "privateIpAddress": nic.ip_address if nic else None,
            "clientToken": tokens.get(i.reservation_id or ""),
            "_reservation": i.reservation_id or ids.reservation_of(i.uuid),
            "_owner": i.project_id,
            "_launched": i.created_at.astimezone(timezone.utc).isoformat()
            if i.created_at else "",
        }
        if i.vm_state == "error" and not i.deleted:
            view["stateReason"] = {"code": "Server.InternalError",
                                   "message": f"Server.InternalError: {i.fault_reason or ''}"}
            view["reason"] = i.fault_reason or ""
        if i.deleted and i.deleted_at:
            view["reason"] = f"User initiated ({_time(i.deleted_at)})"
            view["stateReason"] = {"code": "Client.UserInitiatedShutdown",
                                   "message": "Client.UserInitiatedShutdown: User initiated "
                                              "shutdown"}
        out.append(view)
    return out


def _time(t: datetime | None) -> str | None:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z") if t else None


def _reservations(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    owners: dict[str, str] = {}
    for v in views:
        rid = v.pop("_reservation")
        owners[rid] = v.pop("_owner")
        v.pop("_launched")
        grouped[rid].append(v)
    return [{"reservationId": rid, "ownerId": owners[rid], "groupSet": [],
             "instancesSet": items} for rid, items in grouped.items()]


# --- DescribeInstances ---------------------------------------------------------------------------

@action("DescribeInstances", ("InstanceId", "Filter", "MaxResults", "NextToken"))
def describe_instances(call: Call) -> dict[str, Any]:
    p = call.params
    wanted = p.strings("InstanceId")
    filters = p.filters(FILTERS)
    if wanted and p.get("MaxResults") is not None:
        raise Ec2Error("InvalidParameterCombination", "The parameter instancesSet cannot be "
                       "used with the parameter maxResults")
    with call.env.db.session_scope(readonly=True) as s:
        if wanted:
            rows = find_instances(s, call, wanted)
        else:
            rows = list(s.scalars(select(Instance).where(
                visible(call.ctx.project_id))
                .order_by(Instance.created_at, Instance.id)))
        views = [v for v in ec2_instances(s, rows) if _matches(filters, v)]
    # pages of instances (grouped in their reservations), in launch order
    page = paged(p, "DescribeInstances", views,
                 lambda v: [v["_launched"], v["instanceId"]], low=5)
    return {"reservationSet": _reservations(page.items), "nextToken": page.next_token}


def _matches(filters, v: dict[str, Any]) -> bool:
    tags = {t["key"]: t["value"] for t in v["tagSet"]}
    return (filters.match("instance-id", v["instanceId"])
            and filters.match("instance-state-name", v["instanceState"]["name"])
            and filters.match("instance-state-code", str(v["instanceState"]["code"]))
            and filters.match("instance-type", v["instanceType"])
            and filters.match("image-id", v["imageId"])
            and filters.match("key-name", v["keyName"])
            and filters.match("availability-zone", v["placement"]["availabilityZone"])
            and filters.match("reservation-id", v["_reservation"])
            and filters.match("platform", v["platform"])
            and filters.match("kernel-id", v["kernelId"])
            and filters.match("ramdisk-id", v["ramdiskId"])
            and filters.tags(tags))


# --- Start / Stop / Reboot / Terminate -----------------------------------------------------------

#: action -> (kumo operation, EC2 states it acts from, states it leaves as they are)
_LIFECYCLE = {
    "start": ("start", (STOPPED,), (RUNNING, PENDING)),
    "stop": ("stop", (RUNNING,), (STOPPED, STOPPING)),
    "reboot": ("reboot", (RUNNING,), ()),
    "terminate": ("delete", (PENDING, RUNNING, STOPPING, STOPPED), (SHUTTING_DOWN, TERMINATED)),
}


def _lifecycle(call: Call, what: str, **payload: Any) -> list[dict[str, Any]]:
    operation, acts_from, leaves = _LIFECYCLE[what]
    env = call.env
    with env.db.session_scope(readonly=True) as s:
        rows = find_instances(s, call, _instance_ids(call))
        before = {i.uuid: state(i) for i in rows}
        for i in rows:  # all checked before any is changed
            st = before[i.uuid]
            if st not in acts_from and st not in leaves and not (
                    what == "terminate" and i.vm_state == "error"):
                raise Ec2Error("IncorrectInstanceState",
                               f"The instance '{ids.instance_id(i.uuid)}' is not in a state "
                               f"from which it can be {_verb(what)} (it is {st[1]})")
        uuids = [i.uuid for i in rows]
    for uuid in uuids:
        st = before[uuid]
        if st in leaves:
            continue
        if what == "terminate" and st == PENDING:
            # its build still runs: the delete is queued behind it and the build stops at its
            # next step (kumo.compute.pending_delete); carried out here if the build ended
            if pending_delete.request_in_background(env, call.ctx, uuid):
                continue
        try:
            entry_id, _ = service.begin_operation(env, call.ctx, uuid, operation, **payload)
        except StateError as e:
            raise Ec2Error("IncorrectInstanceState",
                           f"The instance '{ids.instance_id(uuid)}' cannot be {_verb(what)} "
                           f"now: {e}") from None
        background.carry_out_in_thread(env, entry_id)
    with env.db.session_scope(readonly=True) as s:
        now_rows = {i.uuid: i for i in s.scalars(select(Instance).where(
            Instance.uuid.in_(uuids)))}
        return [{"instanceId": ids.instance_id(u),
                 "currentState": _state_view(now_rows[u]),
                 "previousState": {"code": before[u][0], "name": before[u][1]}}
                for u in uuids]


def _verb(what: str) -> str:
    return {"start": "started", "stop": "stopped", "reboot": "rebooted",
            "terminate": "terminated"}[what]


@action("StartInstances", ("InstanceId", "AdditionalInfo"), mutating=True)
def start_instances(call: Call) -> dict[str, Any]:
    return {"instancesSet": _lifecycle(call, "start")}


@action("StopInstances", ("InstanceId", "Force", "Hibernate"), mutating=True)
def stop_instances(call: Call) -> dict[str, Any]:
    force = call.params.boolean("Force")
    if call.params.boolean("Hibernate"):
        raise Ec2Error("UnsupportedHibernationConfiguration",
                       "Hibernation is not supported by this cloud")
    # Force: power off at once (no graceful shutdown time)
    return {"instancesSet": _lifecycle(call, "stop", **({"timeout_override": 0.0}
                                                         if force else {}))}


@action("RebootInstances", ("InstanceId",), mutating=True)
def reboot_instances(call: Call) -> dict[str, Any]:
    _lifecycle(call, "reboot")
    return {"return": True}


@action("TerminateInstances", ("InstanceId",), mutating=True)
def terminate_instances(call: Call) -> dict[str, Any]:
    return {"instancesSet": _lifecycle(call, "terminate")}


# --- GetPasswordData -----------------------------------------------------------------------------

@action("GetPasswordData", ("InstanceId",))
def get_password_data(call: Call) -> dict[str, Any]:
    """The Windows admin password kumo set, encrypted with the instance's key pair (RSA,
    PKCS#1 v1.5, base64), as EC2 hands it out; empty when there is none (Linux, no key pair,
    or a key type that cannot encrypt)."""
    ec2_id = call.params.required("InstanceId")
    with call.env.db.session_scope(readonly=True) as s:
        [i] = find_instances(s, call, [ec2_id])
        return {"instanceId": ec2_id,
                "timestamp": _time(i.launched_at or i.updated_at),
                "passwordData": i.password_data or ""}

