"""Fence commands (kumo.compute.fencing): run with a timeout, command/exit/stdout/stderr
journaled; exit 0 fences the host (forced_down), anything else leaves it unfenced. Only local
commands (true, false, a script in tmp_path)."""

from __future__ import annotations

import stat
import time

import pytest
from sqlalchemy import select

from kumo.compute import evacuate, fencing, journal
from kumo.db.models import Host, JournalEntry
from kumo.errors import InvalidInput, StateError
from tests.compute.crash import Killed
from tests.compute.fleet import FAILED, fail_host, make_fleet, placement


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    make_fleet(env, admin, image_file, fake_hosts, neighbours=["XXXX-HOST-YYYY340"])
    fail_host(env, FAILED)
    return env


def script(tmp_path, body: str) -> str:
    path = tmp_path / "fence.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def fence_entries(env) -> list[tuple[str, str, dict, str | None]]:
    with env.db.session_scope(readonly=True) as s:
        return [(e.step, e.state, dict(e.payload), e.error) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.operation == "host-fence")
            .order_by(JournalEntry.id))]


def forced_down(env) -> bool:
    with env.db.session_scope(readonly=True) as s:
        return s.scalars(select(Host.forced_down).where(Host.name == FAILED)).one()


def test_a_fence_that_exits_0_fences_and_is_journaled(cloud, admin, tmp_path):
    env = cloud
    cmd = script(tmp_path, 'echo "power off $KUMO_FENCE_HOST at $KUMO_FENCE_URI"\n'
                           'echo "Chassis Power Control: Down/Off" >&2\n')
    fencing.set_fence_command(env, admin, FAILED, cmd)
    result = fencing.fence(env, admin, FAILED)
    assert (result.fenced, result.exit_status, result.timed_out, result.reason) == (
        True, 0, False, None)
    assert forced_down(env) is True
    [(step, state, payload, error)] = fence_entries(env)
    assert (step, state, error) == ("fence-command", "done", None)
    assert {k: payload[k] for k in ("host", "command", "exit_status", "stdout", "stderr",
                                    "timed_out", "fenced", "by")} == {
        "host": FAILED, "command": cmd, "exit_status": 0,
        "stdout": f"power off {FAILED} at fake:///{FAILED}\n",
        "stderr": "Chassis Power Control: Down/Off\n", "timed_out": False, "fenced": True,
        "by": "admin"}
    # fenced: the host may now be evacuated
    assert len(evacuate.evacuate(env, admin, FAILED, accept_rebuild=True).moved) == 2


@pytest.mark.parametrize("body, status, reason", [
    pytest.param("exit 1\n", 1, "fence command exited with status 1 (no output on stderr)",
                 id="false"),
    pytest.param("echo 'Error: Unable to establish IPMI v2 / RMCP+ session' >&2\nexit 3\n", 3,
                 "fence command exited with status 3 (Error: Unable to establish IPMI v2 / "
                 "RMCP+ session)", id="ipmi-error"),
])
def test_a_failing_fence_leaves_the_host_unfenced(cloud, admin, tmp_path, body, status, reason):
    env = cloud
    fencing.set_fence_command(env, admin, FAILED, script(tmp_path, body))
    before = placement(env)
    result = fencing.fence(env, admin, FAILED)
    assert (result.fenced, result.exit_status) == (False, status)
    assert result.reason == f"{reason}; host {FAILED!r} stays unfenced"
    assert forced_down(env) is False
    [(_step, state, payload, error)] = fence_entries(env)
    assert (state, error, payload["exit_status"], payload["fenced"]) == (
        "failed", result.reason, status, False)
    with pytest.raises(StateError, match="not confirmed fenced"):
        evacuate.evacuate(env, admin, FAILED, accept_rebuild=True)
    assert placement(env) == before


def test_a_fence_that_hangs_is_killed_at_the_timeout(cloud, admin, tmp_path):
    env = cloud
    env.settings = env.settings.model_copy(update={"fence_timeout": 0.5})
    # the command starts a child that would outlive it: the whole group is killed
    marker = tmp_path / "survived"
    fencing.set_fence_command(env, admin, FAILED, script(
        tmp_path, f"(sleep 3; touch {marker}) &\necho started\nsleep 30\n"))
    t0 = time.monotonic()
    result = fencing.fence(env, admin, FAILED)
    assert time.monotonic() - t0 < 10
    assert (result.fenced, result.exit_status, result.timed_out, result.stdout) == (
        False, None, True, "started\n")
    assert result.reason == f"fence command timed out after 0.5 s (killed); host {FAILED!r} " \
                            "stays unfenced"
    assert forced_down(env) is False
    time.sleep(3.5)
    assert not marker.exists()


def test_a_command_that_cannot_start_leaves_the_host_unfenced(cloud, admin, tmp_path):
    env = cloud
    fencing.set_fence_command(env, admin, FAILED, str(tmp_path / "no-such-fence-agent"))
    result = fencing.fence(env, admin, FAILED)
    assert result.fenced is False
    assert result.reason == (f"fence command '{tmp_path}/no-such-fence-agent' could not be "
                             f"started: No such file or directory; host {FAILED!r} stays "
                             "unfenced")
    assert forced_down(env) is False


@pytest.mark.parametrize("command, message", [
    pytest.param("ipmitool -P 'unterminated", "fence command \"ipmitool -P 'unterminated\" is "
                 "invalid: No closing quotation; allowed a command line split as a shell "
                 "would (quotes, no pipes)", id="quoting"),
    pytest.param("   ", "fence command '   ' is invalid: allowed a command line naming a "
                 "program ('' removes the fence command)", id="blank"),
])
def test_a_bad_fence_command_is_refused(cloud, admin, command, message):
    with pytest.raises(InvalidInput) as e:
        fencing.set_fence_command(cloud, admin, FAILED, command)
    assert str(e.value) == message


def test_no_command_or_an_up_host_is_refused(cloud, admin):
    env = cloud
    with pytest.raises(StateError, match=f"host '{FAILED}' has no fence command"):
        fencing.fence(env, admin, FAILED)
    fencing.set_fence_command(env, admin, "XXXX-HOST-YYYY340", "true")
    with env.db.session_scope() as s:
        s.scalars(select(Host).where(Host.name == "XXXX-HOST-YYYY340")).one().liveness = "up"
    with pytest.raises(StateError, match="is up"):
        fencing.fence(env, admin, "XXXX-HOST-YYYY340")
    assert fence_entries(env) == []


def test_a_fence_interrupted_by_a_crash_is_recovered_as_not_fenced(cloud, admin, monkeypatch):
    env = cloud
    fencing.set_fence_command(env, admin, FAILED, "true")

    def die(*a, **k):
        raise Killed()
    monkeypatch.setattr(fencing, "run_command", die)
    with pytest.raises(Killed):
        fencing.fence(env, admin, FAILED)
    from sqlalchemy import update
    with env.db.session_scope() as s:
        s.execute(update(JournalEntry).values(owner=None))
    [r] = [r for r in journal.recover(env) if r.operation == "host-fence"]
    assert r.state == "failed"
    assert forced_down(env) is False
    assert "result unknown, the host stays unfenced" in fence_entries(env)[0][3]
