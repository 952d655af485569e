"""start, stop, soft and hard reboot -- each journaled before it acts -- and their recovery.

    start         (op start)        start                                  -> ACTIVE / running
    stop          (op stop)         shutdown (graceful, env.stop_timeout_s), then destroy if the
                                    guest did not power off                -> STOPPED / shutdown
    soft reboot   (op reboot)       shutdown (graceful), start; a guest that does not shut down
                                    in time gets a hard reboot (as Nova does)
    hard reboot   (op reboot-hard)  destroy, regenerate the domain from the instance record
                                    (instance_request: frozen properties plus audited overrides,
                                    seed 001's cure), define it again, start; clears a fault

Recovery brings the domain to where the operation was going: running (start, reboots -- a hard
reboot is redone from define), or shut off (stop). A domain that vanished from its host makes the
instance ERROR with that reason. Failpoints (test-only): reboot-hard:after-define.
"""

from __future__ import annotations


from kumo.compute import journal, naming, records, spawn
from kumo.compute.env import ComputeEnv
from kumo.hosts.protocol import HostConnection
from kumo.compute.teardown import is_running
from kumo.compute.states import ACTIVE, STOPPED
from kumo.db.models import JournalEntry, JournalState, PowerState


def run(env: ComputeEnv, entry_id: int, uuid: str, operation: str) -> None:
    """Carry out ``operation`` (start, stop, reboot, reboot-hard) on the instance's domain."""
    try:
        _RUNNERS[operation](env, entry_id, uuid)
    except Exception as e:
        records.fail(env, uuid, entry_id=entry_id, error=str(e),
                     fault=f"{operation} failed: {e}")
        raise


def _conn(env: ComputeEnv, uuid: str) -> tuple[HostConnection, str, int]:
    """The connection to the instance's host, its domain name, and the host's id."""
    _instance, host = records.load(env, uuid)
    return env.host(host.uri), naming.domain_name(uuid), host.id


def _start(env: ComputeEnv, entry_id: int, uuid: str) -> None:
    conn, name, host_id = _conn(env, uuid)
    journal.advance(env, entry_id, "start")
    if not is_running(conn, name):
        conn.start(name)
    _done(env, entry_id, uuid, host_id, running=True)


def _stop(env: ComputeEnv, entry_id: int, uuid: str) -> None:
    conn, name, host_id = _conn(env, uuid)
    journal.advance(env, entry_id, "shutdown", timeout_s=env.stop_timeout_s)
    if is_running(conn, name):
        conn.shutdown(name, env.stop_timeout_s)  # destroys the guest if it does not power off
    _done(env, entry_id, uuid, host_id, running=False)


def _reboot_soft(env: ComputeEnv, entry_id: int, uuid: str) -> None:
    conn, name, host_id = _conn(env, uuid)
    journal.advance(env, entry_id, "shutdown", timeout_s=env.stop_timeout_s)
    if is_running(conn, name) and not conn.shutdown(name, env.stop_timeout_s):
        # it did not power off in time and was destroyed: finish as a hard reboot (Nova does)
        journal.advance(env, entry_id, "destroy",
                        note=f"the guest did not shut down within {env.stop_timeout_s:g} s: "
                             "hard reboot")
        _reboot_hard(env, entry_id, uuid)
        return
    journal.advance(env, entry_id, "start")
    conn.start(name)
    _done(env, entry_id, uuid, host_id, running=True)


def _reboot_hard(env: ComputeEnv, entry_id: int, uuid: str) -> None:
    conn, name, _host_id = _conn(env, uuid)
    journal.advance(env, entry_id, "destroy")
    if is_running(conn, name):
        conn.destroy(name)
    instance, _host = records.load(env, uuid)
    spawn.ensure_boot_images(env, conn, instance, entry_id)  # a changed kernel_id needs its file
    spawn.define_and_start(env, conn, entry_id, uuid, "reboot-hard")


def _done(env: ComputeEnv, entry_id: int, uuid: str, host_id: int, running: bool) -> None:
    """The outcome of a power operation the host carried out (its heartbeat with it)."""
    records.save(env, uuid, entry_id=entry_id, entry_state=JournalState.DONE, contacted=host_id,
                 vm_state=ACTIVE if running else STOPPED, task_state=None,
                 power_state=(PowerState.RUNNING if running else PowerState.SHUTDOWN).value)


_RUNNERS = {"start": _start, "stop": _stop, "reboot": _reboot_soft, "reboot-hard": _reboot_hard}


def recover_power(env: ComputeEnv, entry: JournalEntry) -> str:
    uuid, op, step = entry.instance_uuid, entry.operation, entry.step
    conn, name, host_id = _conn(env, uuid)
    if op == "reboot-hard" or (op == "reboot" and step in ("destroy", "define")):
        spawn.define_and_start(env, conn, entry.id, uuid, "reboot-hard")
        return f"{op} interrupted at step {step}: finished (domain regenerated), server ACTIVE"
    if not conn.domain_exists(name):
        reason = (f"{op} was interrupted at step {step} and domain {name} is no longer on the "
                  "host: hard-reboot the server to define it again")
        records.fail(env, uuid, entry_id=entry.id,
                     error=reason, fault=reason, contacted=host_id)
        return reason
    if op == "stop":
        if is_running(conn, name):
            conn.destroy(name)
        _done(env, entry.id, uuid, host_id, running=False)
        return f"stop interrupted at step {step}: finished, server STOPPED"
    if not is_running(conn, name):
        conn.start(name)
    _done(env, entry.id, uuid, host_id, running=True)
    return f"{op} interrupted at step {step}: finished, server ACTIVE"
