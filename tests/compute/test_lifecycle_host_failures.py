"""start, stop, soft and hard reboot, rebuild and delete of an ACTIVE server against an in-memory
host (kumo.hosts.fake) that fails at every step: the server ends ERROR with the host's error as
its fault and the power state the host reports afterwards (not the one the operation was heading
for, nor the one before it), the journal entry FAILED at the step it failed at, its claim kept;
a hard reboot or delete afterwards recovers it, and delete leaves nothing behind. Every host call
that changes something happens under the journal step that covers it (JournalWatch)."""

from __future__ import annotations

import pytest

from kumo.compute import journal, naming, servers
from kumo.errors import HostError, HostUnreachable, StateError, UnsupportedGuest
from kumo.hosts.fake import Fault
from kumo.hosts.protocol import DomainState
from tests.compute.crash import dies_at_host_call
from tests.compute.fakehost import (counters, entries, fake_cloud, instance_volumes,
                                    live_instances)

URI = "fake:///kvm-1"
EMPTY = (0, 0, 0, 0)
HELD = (1, 256, 2, 1)


@pytest.fixture
def web(env, admin, image_file, fake_hosts):
    """An ACTIVE server ``web`` on the fake host: (env, host, uuid)."""
    host = fake_cloud(env, admin, image_file, fake_hosts)
    watch = host.watch
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    host.calls.clear()
    yield env, host, uuid
    assert watch.violations == []


def run(env, admin, operation: str):
    if operation == "start":
        return servers.start_server(env, admin, "web")
    if operation == "stop":
        return servers.stop_server(env, admin, "web")
    if operation in ("reboot", "reboot-hard"):
        return servers.reboot_server(env, admin, "web", hard=operation == "reboot-hard")
    if operation == "rebuild":
        return servers.rebuild_server(env, admin, "web")
    return servers.delete_server(env, admin, "web")


def is_root(call) -> bool:
    return call.args["name"].endswith("-disk")


# (operation, host call that fails, fault, which calls, after acting?, exception,
#  journal step at the failure, power state the host reports afterwards)
FAILURES = [
    pytest.param("stop", "shutdown", Fault.TIMEOUT, None, False, HostError, "shutdown",
                 "running", id="stop-timeout"),
    pytest.param("stop", "shutdown", Fault.TIMEOUT, None, True, HostError, "shutdown",
                 "shutdown", id="stop-answer-lost"),
    pytest.param("stop", "domain_state", Fault.CONNECTION_LOST, None, False, HostUnreachable,
                 "shutdown", "running", id="stop-host-lost"),
    pytest.param("start", "start", Fault.START_ERROR, None, False, HostError, "start",
                 "shutdown", id="start-error"),
    pytest.param("start", "start", Fault.TIMEOUT, None, True, HostError, "start", "running",
                 id="start-answer-lost"),
    pytest.param("reboot", "shutdown", Fault.TIMEOUT, None, False, HostError, "shutdown",
                 "running", id="reboot-shutdown-timeout"),
    pytest.param("reboot", "start", Fault.START_ERROR, None, False, HostError, "start",
                 "shutdown", id="reboot-start-error"),
    pytest.param("reboot-hard", "destroy", Fault.TIMEOUT, None, False, HostError, "destroy",
                 "running", id="hard-destroy-timeout"),
    pytest.param("reboot-hard", "define", Fault.REFUSED, None, False, UnsupportedGuest,
                 "define", "shutdown", id="hard-define-refused"),
    # a hard reboot's and a rebuild's start shares the define step (spawn.define_and_start)
    pytest.param("reboot-hard", "start", Fault.START_ERROR, None, False, HostError, "define",
                 "shutdown", id="hard-start-error"),
    pytest.param("reboot-hard", "start", Fault.CONNECTION_LOST, None, False, HostUnreachable,
                 "define", "running", id="hard-host-lost"),  # nothing reported: as recorded
    pytest.param("rebuild", "destroy", Fault.TIMEOUT, None, False, HostError, "destroy",
                 "running", id="rebuild-destroy-timeout"),
    pytest.param("rebuild", "delete_volume", Fault.STORAGE, is_root, False, HostError,
                 "volumes", "shutdown", id="rebuild-delete-root"),
    pytest.param("rebuild", "create_overlay_volume", Fault.STORAGE, None, False, HostError,
                 "volumes", "shutdown", id="rebuild-root-volume"),
    pytest.param("rebuild", "define", Fault.INVALID_XML, None, False, Exception, "define",
                 "shutdown", id="rebuild-define-refused"),
    pytest.param("rebuild", "start", Fault.START_ERROR, None, False, HostError, "define",
                 "shutdown", id="rebuild-start-error"),
    pytest.param("delete", "destroy", Fault.TIMEOUT, None, False, HostError, "destroy",
                 "running", id="delete-destroy-timeout"),
    pytest.param("delete", "undefine", Fault.TIMEOUT, None, False, HostError, "undefine",
                 "shutdown", id="delete-undefine-timeout"),
    pytest.param("delete", "delete_volume", Fault.STORAGE, is_root, False, HostError,
                 "volumes", "nostate", id="delete-volume"),
]


@pytest.mark.parametrize("operation, op, fault, when, after, raised, step, power", FAILURES)
def test_failed_operation_records_what_the_host_reports(web, admin, operation, op, fault, when,
                                                         after, raised, step, power):
    env, host, uuid = web
    if operation == "start":
        servers.stop_server(env, admin, "web")
    host.fail(op, fault, when=when, after=after)
    with pytest.raises(raised) as e:
        run(env, admin, operation)
    assert fault.message in str(e.value)
    server = servers.show_server(env, admin, uuid)
    suffix = "; delete the server again to retry" if operation == "delete" else ""
    assert (server["status"], server["task_state"], server["host"], server["power_state"]) == (
        "ERROR", None, "kvm-1", power)
    assert server["fault"]["message"] == f"{operation} failed: {e.value}{suffix}"
    assert entries(env, uuid)[-1] == (operation, "failed", step)
    assert counters(env) == {"kvm-1": HELD}
    host.heal()
    env.forget_host(URI)
    if operation != "delete":  # a hard reboot repairs it
        server = servers.reboot_server(env, admin, "web", hard=True)
        assert (server["status"], server["power_state"], server["fault"]) == (
            "ACTIVE", "running", None)
        assert host.domains[naming.domain_name(uuid)].state == DomainState.RUNNING
    servers.delete_server(env, admin, "web")
    assert live_instances(env) == [] and counters(env) == {"kvm-1": EMPTY}
    assert host.domains == {} and instance_volumes(host, env.pool_name) == set()


@pytest.mark.parametrize("operation, calls", [
    ("stop", ["shutdown"]),
    ("reboot", ["shutdown", "start"]),
    ("reboot-hard", ["destroy", "define", "start"]),
    ("rebuild", ["destroy", "delete_volume", "delete_volume", "delete_volume",
                 "create_overlay_volume", "create_volume", "upload_volume", "define", "start"]),
    ("delete", ["destroy", "undefine", "delete_volume", "delete_volume", "delete_volume"]),
])
def test_operation_succeeds_with_every_step_journaled(web, admin, operation, calls):
    env, host, uuid = web
    run(env, admin, operation)
    mutating = ["shutdown", "start", "destroy", "define", "undefine", "delete_volume",
                "create_overlay_volume", "create_volume", "upload_volume"]
    assert [c.op for c in host.ops(*mutating)] == calls
    assert entries(env, uuid)[1][:2] == (operation, "done")


# --- recovery of an operation a dead controller left ---------------------------------------------

def dead(env) -> None:
    import socket

    from kumo.db.models import JournalEntry

    with env.db.session_scope() as s:
        for entry in s.query(JournalEntry).filter(JournalEntry.state == "in-progress"):
            entry.owner = f"{socket.gethostname()}:999999999:0"


# (operation, host call the controller died at, journal step, outcome, status, power)
RECOVERY = [
    pytest.param("stop", "shutdown", "shutdown",
                 "stop interrupted at step shutdown: finished, server STOPPED", "SHUTOFF",
                 "shutdown", id="stop"),
    pytest.param("reboot", "start", "start",
                 "reboot interrupted at step start: finished, server ACTIVE", "ACTIVE", "running",
                 id="reboot-before-start"),
    pytest.param("reboot-hard", "define", "define",
                 "reboot-hard interrupted at step define: finished (domain regenerated), server "
                 "ACTIVE", "ACTIVE", "running", id="hard-before-define"),
    pytest.param("rebuild", "define", "define",
                 "rebuild interrupted at step define: finished, server ACTIVE", "ACTIVE",
                 "running", id="rebuild-before-define"),
    pytest.param("rebuild", "create_overlay_volume", "volumes",
                 "rebuild was interrupted at step volumes (the controller stopped): rebuild the "
                 "server again", "ERROR", "shutdown", id="rebuild-before-volumes"),
    pytest.param("delete", "undefine", "undefine",
                 "delete interrupted at step undefine: finished, server deleted", None, None,
                 id="delete-before-undefine"),
]


@pytest.mark.parametrize("operation, op, step, outcome, status, power", RECOVERY)
def test_recovery_after_the_controller_died(web, admin, operation, op, step, outcome, status,
                                            power):
    env, host, uuid = web
    with dies_at_host_call(host, op):
        run(env, admin, operation)
    dead(env)
    [done] = journal.recover(env)
    assert (done.operation, done.step, done.outcome) == (operation, step, outcome)
    if status is None:
        assert live_instances(env) == [] and counters(env) == {"kvm-1": EMPTY}
        assert host.domains == {} and instance_volumes(host, env.pool_name) == set()
        return
    server = servers.show_server(env, admin, uuid)
    assert (server["status"], server["power_state"]) == (status, power)
    assert counters(env) == {"kvm-1": HELD}
    servers.delete_server(env, admin, "web")
    assert host.domains == {} and instance_volumes(host, env.pool_name) == set()


def test_recovery_of_a_refused_finish_ends_failed_with_the_hosts_state(web, admin):
    """The host answers but cannot finish the hard reboot: not retried forever (the server is
    ERROR with the host's answer and the power state it reports), and hard-rebooting it later
    works once the host can."""
    env, host, uuid = web
    with dies_at_host_call(host, "define"):
        servers.reboot_server(env, admin, "web", hard=True)
    dead(env)
    host.fail("start", Fault.START_ERROR)
    [done] = journal.recover(env)
    assert done.state == "failed"
    assert done.outcome.startswith("reboot-hard was interrupted at step define and finishing "
                                   "it failed: cannot start(name=")
    server = servers.show_server(env, admin, uuid)
    assert (server["status"], server["power_state"], server["fault"]["message"]) == (
        "ERROR", "shutdown", done.outcome)
    assert journal.recover(env) == []
    assert servers.reboot_server(env, admin, "web", hard=True)["status"] == "ACTIVE"


def test_busy_server_refuses_a_second_operation(web, admin):
    env, host, uuid = web

    def overlap(call) -> None:
        if call.op == "shutdown":
            with pytest.raises(StateError, match="busy"):
                servers.reboot_server(env, admin, "web", hard=True)
    host.hooks.insert(0, overlap)
    servers.stop_server(env, admin, "web")
    assert servers.show_server(env, admin, uuid)["status"] == "SHUTOFF"
