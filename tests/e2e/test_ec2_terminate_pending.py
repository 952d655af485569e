"""TerminateInstances of a pending instance on the real libvirtd (qemu:///system, TCG, the
probe guest): the build is held at a host call until the terminate is in, then let go. Held at
its image upload, it stops before its volumes and is rolled back; held at define, it boots and
is then deleted. Either way the instance ends terminated and libvirt has nothing of it left:
no domain, no volume of its own in the pool; its claim and ports are gone."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from kumo.compute import naming
from kumo.db.models import Host, Instance, JournalEntry
from tests.e2e.serve_support import cloud_of_api_calls
from tests.ec2.support import run

pytestmark = [pytest.mark.e2e]


class Held:
    """The real host connection, but its first ``op`` call waits until released."""

    def __init__(self, real, op: str):
        self._real, self._op = real, op
        self.reached, self.go = threading.Event(), threading.Event()

    def __getattr__(self, name):
        attr = getattr(self._real, name)
        if name != self._op:
            return attr

        def held(*args, **kwargs):
            if not self.reached.is_set():
                self.reached.set()
                assert self.go.wait(120)
            return attr(*args, **kwargs)
        return held


@pytest.fixture
def cloud(tmp_path, system_libvirt):
    with cloud_of_api_calls(tmp_path, system_libvirt) as c:
        yield c


@pytest.mark.parametrize("held_at, create_ended", [
    ("upload_volume", "rolled-back"),  # the image upload: stopped before its volumes
    ("define", "done"),  # past the build's last check: it boots, then it is deleted
], ids=["stopped-mid-build", "deleted-after-boot"])
def test_a_pending_instance_terminated_leaves_nothing_on_libvirt(cloud, held_at, create_ended):
    env, ctx = cloud.env, cloud.ctx
    real_connect = env.connect
    held: list[Held] = []

    def connect(uri):
        held.append(Held(real_connect(uri), held_at))
        return held[-1]
    for uri in list(env._hosts):
        env.forget_host(uri)
    env.connect = connect
    [ami] = [i["imageId"] for i in run(env, ctx, "DescribeImages")["imagesSet"]
             if i["name"] == "linux"]
    [inst] = run(env, ctx, "RunInstances", ImageId=ami, InstanceType="tiny", MinCount="1",
                 MaxCount="1")["instancesSet"]
    assert held and held[0].reached.wait(120)
    [item] = run(env, ctx, "TerminateInstances", **{"InstanceId.1": inst["instanceId"]})[
        "instancesSet"]
    assert (item["previousState"]["name"], item["currentState"]["name"]) == (
        "pending", "shutting-down")
    held[0].go.set()
    for thread in threading.enumerate():
        if thread.name.startswith(("build-", "delete-")):
            thread.join(180)

    [view] = run(env, ctx, "DescribeInstances", **{"InstanceId.1": inst["instanceId"]})[
        "reservationSet"][0]["instancesSet"]
    assert view["instanceState"]["name"] == "terminated"
    with env.db.session_scope(readonly=True) as s:
        row = s.scalars(select(Instance)).one()
        ops = [(e.operation, e.state) for e in s.scalars(select(JournalEntry).where(
            JournalEntry.instance_uuid == row.uuid).order_by(JournalEntry.id))]
        host = s.scalars(select(Host)).one()
        assert (row.deleted, host.instance_count, host.used_vcpus) == (True, 0, 0)
    assert ops == [("create", create_ended), ("delete", "done")]
    assert not cloud.conn.domain_exists(naming.domain_name(row.uuid))
    assert [v for v in cloud.conn.list_volumes(env.pool_name) if row.uuid in v] == []
