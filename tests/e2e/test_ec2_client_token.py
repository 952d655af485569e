"""RunInstances' ClientToken across a controller's death, on the real libvirtd (qemu:///system,
TCG, the probe guest): a controller process is SIGKILLed mid-launch -- its token recorded and
an instance recorded, nothing answered, nothing built -- and the client's retry with the same
token, in another controller, launches the reservation exactly once: the dead launch's
instance withdrawn (no domain, no volume, no claim of it), the retry's instance built and
running on libvirt, and a second retry answering the same reservation without launching more.
(The same promise against in-memory hosts, for every kill point: tests/ec2/test_idempotency.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from kumo.compute import naming, servers
from kumo.db.models import Ec2ClientToken, Host, Instance, JournalEntry
from tests.e2e.serve_support import cloud_of_api_calls
from tests.ec2.support import built, run

pytestmark = [pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "retry-after-crash"


@pytest.fixture
def cloud(tmp_path, system_libvirt):
    with cloud_of_api_calls(tmp_path, system_libvirt) as c:
        yield c


def _killed_launch(cloud, params: dict[str, str], failpoint: str) -> None:
    """RunInstances in a controller process of the installation's own, SIGKILLed at
    ``failpoint``."""
    spec = {"environ": cloud.environ, "user": cloud.ctx.user_id,
            "project": cloud.ctx.project_id, "roles": list(cloud.ctx.roles), "params": params}
    environ = {**os.environ, "KUMO_FAILPOINT": failpoint,
               "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT),
                                              os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-m", "tests.ec2.killed_launch", json.dumps(spec)],
                           env=environ, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout,
                                                 child.stderr[-2000:])


def _instances(env) -> list[tuple[str, bool]]:
    with env.db.session_scope(readonly=True) as s:
        return [(i.uuid, i.deleted) for i in s.scalars(select(Instance).order_by(Instance.id))]


def test_a_launch_killed_mid_way_is_launched_once_by_the_retry_with_its_token(cloud):
    env, ctx = cloud.env, cloud.ctx
    [ami] = [i["imageId"] for i in run(env, ctx, "DescribeImages")["imagesSet"]
             if i["name"] == "linux"]
    params = {"ImageId": ami, "InstanceType": "tiny", "MinCount": "1", "MaxCount": "1",
              "ClientToken": TOKEN}
    _killed_launch(cloud, params, "ec2-run:after-instance@1")
    [(dead, deleted)] = _instances(env)
    assert deleted is False  # recorded by the dead launch, answered to nobody, never built
    assert not cloud.conn.domain_exists(naming.domain_name(dead))

    answer = run(env, ctx, "RunInstances", **params)  # the client's retry, another controller
    [inst] = answer["instancesSet"]
    assert inst["clientToken"] == TOKEN
    view = built(env, ctx, inst["instanceId"], timeout=180)
    assert view["status"] == "ACTIVE", view
    uuid = view["id"]
    assert uuid != dead
    # the dead launch's record withdrawn (never answered to anyone): not doubled
    assert _instances(env) == [(uuid, False)]
    assert cloud.conn.domain_state(naming.domain_name(uuid)) == "running"
    cloud.conn.refresh_pool(env.pool_name)
    volumes = set(cloud.conn.list_volumes(env.pool_name))
    assert not cloud.conn.domain_exists(naming.domain_name(dead))
    assert {v for v in volumes if dead in v} == set()
    assert set(naming.instance_volumes(uuid)) & volumes  # the retry's own disks are there
    with env.db.session_scope(readonly=True) as s:
        host = s.scalars(select(Host)).one()
        assert (host.instance_count, host.used_vcpus, host.used_ram_mib) == (1, 1, 256)
        runs = [(e.state, e.step) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.operation == "ec2-run")
            .order_by(JournalEntry.id))]
        assert runs == [("rolled-back", "launching"), ("done", "launched")]

    again = run(env, ctx, "RunInstances", **params)  # a second retry: the same reservation
    assert (again["reservationId"], [i["instanceId"] for i in again["instancesSet"]]) == (
        answer["reservationId"], [inst["instanceId"]])
    with env.db.session_scope(readonly=True) as s:
        assert len(list(s.scalars(select(Ec2ClientToken)))) == 1
    assert _instances(env) == [(uuid, False)]
    servers.delete_server(env, ctx, uuid)
    assert not cloud.conn.domain_exists(naming.domain_name(uuid))
