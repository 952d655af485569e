"""ClientToken across a controller's death (kumo.ec2.idempotency): a RunInstances killed
(a real SIGKILL at a failpoint, in a process of its own) between recording its token and
answering is launched exactly once by the client's retry with the token -- whether the retry
itself finds the dead launch or ``kumo serve``'s recovery rolled it back first -- and nothing
the dead launch recorded is left (instances, claims, ports, tokens). A retry while the launch
runs in a live controller waits for it and then answers Unavailable (503, which clients retry).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kumo.compute import journal, networks
from kumo.db.models import Ec2ClientToken, Host, Instance, JournalEntry, Port
from kumo.ec2 import idempotency
from kumo.ec2.errors import Ec2Error
from tests.ec2.support import built, run

ROOT = Path(__file__).resolve().parents[2]


def _ami(env, ctx) -> str:
    [image] = [i for i in run(env, ctx, "DescribeImages")["imagesSet"] if i["name"] == "linux"]
    return image["imageId"]


def _params(env, ctx, count: int) -> dict[str, str]:
    return {"ImageId": _ami(env, ctx), "InstanceType": "tiny", "MinCount": "1",
            "MaxCount": str(count), "ClientToken": "retry-after-crash"}


def _controller(env, params: dict[str, str], failpoint: str,
                action: str | None = None) -> subprocess.Popen:
    """RunInstances in a controller process of its own, armed with ``failpoint``."""
    s = env.settings
    spec = {"database_url": env.db.url.render_as_string(False), "data_dir": str(s.data_dir),
            "image_dir": str(s.image_dir), "pool_name": env.pool_name,
            "pool_path": env.pool_path, "params": params}
    child_env = {**os.environ, "KUMO_FAILPOINT": failpoint,
                 "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT),
                                                os.environ.get("PYTHONPATH", "")])}
    if action:
        child_env["KUMO_FAILPOINT_ACTION"] = action
    return subprocess.Popen([sys.executable, "-m", "tests.ec2.killed_launch", json.dumps(spec)],
                            env=child_env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _killed(env, params, failpoint: str) -> None:
    child = _controller(env, params, failpoint)
    out, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, (child.returncode, out, err[-2000:])


def _live(env) -> list[str]:
    with env.db.session_scope(readonly=True) as s:
        return list(s.scalars(select(Instance.uuid).where(Instance.deleted.is_(False))
                              .order_by(Instance.id)))


def _count(env, model) -> int:
    with env.db.session_scope(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def _host_usage(env) -> tuple[int, int, int]:
    with env.db.session_scope(readonly=True) as s:
        h = s.scalars(select(Host).where(Host.name == "kvm-1")).one()
        return h.instance_count, h.used_vcpus, h.used_ram_mib


def _ports_of_live(env) -> tuple[int, int]:
    with env.db.session_scope(readonly=True) as s:
        ports = list(s.scalars(select(Port)))
        live = set(_live(env))
        return len(ports), sum(1 for p in ports if p.instance_uuid in live)


@pytest.mark.parametrize("failpoint, count, recovery_first", [
    ("ec2-run:after-token", 1, False),
    ("ec2-run:after-instance@1", 2, False),
    ("ec2-run:after-instance@2", 2, True),
], ids=["token-recorded", "one-of-two-recorded-retry-recovers",
        "both-recorded-serve-recovers-first"])
def test_a_launch_killed_before_it_answered_is_launched_once_by_the_retry(
        cloud, alice, failpoint, count, recovery_first):
    env, _host = cloud
    networks.create_network(env, alice, "net", subnet="10.0.0.0/24")
    params = _params(env, alice, count)
    _killed(env, params, failpoint)
    dead = {"ec2-run:after-token": 0, "ec2-run:after-instance@1": 1,
            "ec2-run:after-instance@2": 2}[failpoint]
    assert len(_live(env)) == dead and _ports_of_live(env) == (dead, dead)
    if recovery_first:  # kumo serve restarted: its recovery finds the dead launch first
        outcomes = [r for r in journal.recover(env) if r.operation == "ec2-run"]
        assert [(r.state, r.outcome.split(": ")[1]) for r in outcomes] == [
            ("rolled-back", f"{dead} recorded instance(s) withdrawn; the token forgotten (a "
                            "retry with it launches anew)")]
        assert (_live(env), _count(env, Ec2ClientToken)) == ([], 0)

    r = run(env, alice, "RunInstances", **params)
    assert len(r["instancesSet"]) == count
    uuids = _live(env)
    assert len(uuids) == count  # the dead launch's instances are gone: not doubled
    assert {i["clientToken"] for i in r["instancesSet"]} == {"retry-after-crash"}
    for inst in r["instancesSet"]:
        assert built(env, alice, inst["instanceId"])["status"] == "ACTIVE"
    # claims and ports: exactly the retry's instances' (1 vCPU, 256 MiB each)
    assert _host_usage(env) == (count, count, 256 * count)
    assert _ports_of_live(env) == (count, count)
    # a second retry answers the same reservation, launching nothing
    again = run(env, alice, "RunInstances", **params)
    assert (again["reservationId"], [i["instanceId"] for i in again["instancesSet"]]) == (
        r["reservationId"], [i["instanceId"] for i in r["instancesSet"]])
    assert len(_live(env)) == count and _count(env, Ec2ClientToken) == 1
    with env.db.session_scope(readonly=True) as s:
        runs = [(e.state, e.step) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.operation == "ec2-run")
            .order_by(JournalEntry.id))]
    assert runs == [("rolled-back", "launching"), ("done", "launched")]


def test_a_retry_while_a_live_controller_launches_waits_then_answers_unavailable(
        cloud, alice, monkeypatch):
    env, _host = cloud
    monkeypatch.setattr(idempotency, "IN_PROGRESS_WAIT", 0.5)
    params = _params(env, alice, 1)
    child = _controller(env, params, "ec2-run:after-token", action="stop")
    try:
        _wait_for_entry(env, child)
        with pytest.raises(Ec2Error) as e:
            run(env, alice, "RunInstances", **params)
        assert (e.value.code, e.value.status) == ("Unavailable", 503)
        assert "still in progress: retry the request with the same ClientToken" in \
            e.value.message
        assert _live(env) == []
        # the frozen controller dies: the next retry recovers its launch and launches once
        child.kill()
        child.communicate(timeout=30)
        r = run(env, alice, "RunInstances", **params)
        assert len(r["instancesSet"]) == 1 and len(_live(env)) == 1
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=30)


def _wait_for_entry(env, child: subprocess.Popen) -> None:
    """Until the child's launch is journaled (it stops right after)."""
    import time

    deadline = time.monotonic() + 120
    while _count(env, Ec2ClientToken) == 0:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.3)  # committed before the failpoint: it stops at once after


def test_a_refused_launch_rolls_its_entry_back(cloud, alice):
    env, _host = cloud
    params = {**_params(env, alice, 40), "MinCount": "40"}
    with pytest.raises(Ec2Error) as e:
        run(env, alice, "RunInstances", **params)
    assert e.value.code == "InsufficientInstanceCapacity"
    with env.db.session_scope(readonly=True) as s:
        [entry] = s.scalars(select(JournalEntry).where(JournalEntry.operation == "ec2-run"))
        assert (entry.state, entry.error.split(":")[0]) == ("rolled-back", "refused")
    assert _count(env, Ec2ClientToken) == 0 and _live(env) == []
