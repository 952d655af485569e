"""TerminateInstances of a pending instance (kumo.compute.pending_delete): AWS terminates
pending instances, so kumo queues the delete behind the running build, which stops at its next
step; the instance ends terminated with nothing left -- no domain, no volumes of its own, no
claim, no port -- wherever the build was when the terminate came."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from kumo.compute import naming, networks
from kumo.db.models import Host, Instance, JournalEntry, Port
from tests.ec2.support import run


def _ami(env, ctx) -> str:
    [image] = [i for i in run(env, ctx, "DescribeImages")["imagesSet"] if i["name"] == "linux"]
    return image["imageId"]


class Pause:
    """A host hook that holds the build at the first call ``op`` (before it acts) until
    released."""

    def __init__(self, op: str):
        self.op, self.reached, self.go = op, threading.Event(), threading.Event()

    def __call__(self, call) -> None:
        if call.op == self.op and not self.reached.is_set():
            self.reached.set()
            assert self.go.wait(60)


def _wait_builds() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith(("build-", "delete-")):
            thread.join(60)


@pytest.mark.parametrize("paused_at, entries", [
    # stops before its volumes; rolled back off the host, so the delete has no host to clean
    ("upload_volume", [("create", "rolled-back", "rollback"), ("delete", "done", "begin")]),
    # stops before define
    ("create_volume", [("create", "rolled-back", "rollback"), ("delete", "done", "begin")]),
    # past the last check: built, then deleted from its host
    ("define", [("create", "done", "start"), ("delete", "done", "volumes")]),
], ids=["uploading-image", "making-volumes", "defining"])
def test_terminating_a_pending_instance_deletes_it_and_leaves_nothing(
        cloud, alice, paused_at, entries):
    env, host = cloud
    networks.create_network(env, alice, "net", subnet="10.0.0.0/24")
    pause = Pause(paused_at)
    host.hooks.insert(0, pause)
    launched = run(env, alice, "RunInstances", ImageId=_ami(env, alice), InstanceType="tiny",
                   MinCount="1", MaxCount="1")
    [inst] = launched["instancesSet"]
    assert pause.reached.wait(60)
    answer = run(env, alice, "TerminateInstances", **{"InstanceId.1": inst["instanceId"]})
    [item] = answer["instancesSet"]
    assert (item["previousState"]["name"], item["currentState"]["name"]) == (
        "pending", "shutting-down")
    pause.go.set()
    _wait_builds()

    [view] = run(env, alice, "DescribeInstances")["reservationSet"][0]["instancesSet"]
    assert view["instanceState"]["name"] == "terminated"
    with env.db.session_scope(readonly=True) as s:
        row = s.scalars(select(Instance)).one()
        journaled = [(e.operation, e.state, e.step) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.instance_uuid == row.uuid)
            .order_by(JournalEntry.id))]
        usage = s.scalars(select(Host)).one()
        ports = list(s.scalars(select(Port)))
    assert row.deleted and row.vm_state == "deleted"
    assert journaled == entries
    assert (usage.instance_count, usage.used_vcpus, usage.used_ram_mib) == (0, 0, 0)
    assert ports == []
    assert naming.domain_name(row.uuid) not in host.domains
    own = set(naming.instance_volumes(row.uuid))
    assert own & host.volumes(env.pool_name) == set()
    # a terminate of the terminated instance changes nothing
    again = run(env, alice, "TerminateInstances", **{"InstanceId.1": inst["instanceId"]})
    assert again["instancesSet"][0]["currentState"]["name"] == "terminated"
