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


from kumo.catalog.flavor import effective_properties
from kumo.catalog.properties import ImageProperties
from kumo.compute import journal, naming, records, spawn
from kumo.compute.instance_request import flavor_snapshot
from kumo.compute.env import ComputeEnv
from kumo.hosts.protocol import HostConnection
from kumo.compute.teardown import is_running
from kumo.compute.states import ACTIVE, STOPPED
from kumo.db.models import Instance, JournalEntry, JournalState, PowerState


def shutdown_timeout(env: ComputeEnv, instance: Instance,
                     override: float | None = None) -> float:
    """Seconds a graceful shutdown may take before the domain is destroyed: the caller's
    ``override`` (kumo server stop --timeout), else the instance's os_shutdown_timeout (image
    property, or the flavor's os:shutdown_timeout extra spec, as the instance stores them), else
    env.stop_timeout_s (60, Nova's [DEFAULT]shutdown_timeout)."""
    if override is not None:
        return float(override)
    props = effective_properties(ImageProperties.parse(dict(instance.image_properties or {})),
                                 flavor_snapshot(instance))
    value = props.get("os_shutdown_timeout")
    return float(value) if value is not None else env.stop_timeout_s


def run(env: ComputeEnv, entry_id: int, uuid: str, operation: str,
        timeout_s: float | None = None) -> None:
    """Carry out ``operation`` (start, stop, reboot, reboot-hard) on the instance's domain;
    ``timeout_s`` overrides the graceful-shutdown timeout of stop and soft reboot."""
    try:
        if operation in ("stop", "reboot"):
            _RUNNERS[operation](env, entry_id, uuid, timeout_s)
        else:
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


def _stop(env: ComputeEnv, entry_id: int, uuid: str, override: float | None = None) -> None:
    conn, name, host_id = _conn(env, uuid)
    instance, _host = records.load(env, uuid)
    timeout = shutdown_timeout(env, instance, override)
    journal.advance(env, entry_id, "shutdown", timeout_s=timeout)
    # shutdown destroys the guest if it does not power off in time; the journal says so
    if is_running(conn, name) and not conn.shutdown(name, timeout):
        journal.advance(env, entry_id, "destroy",
                        note=f"the guest did not shut down within {timeout:g} s: powered off")
    _done(env, entry_id, uuid, host_id, running=False)


def _reboot_soft(env: ComputeEnv, entry_id: int, uuid: str,
                 override: float | None = None) -> None:
    conn, name, host_id = _conn(env, uuid)
    instance, _host = records.load(env, uuid)
    timeout = shutdown_timeout(env, instance, override)
    journal.advance(env, entry_id, "shutdown", timeout_s=timeout)
    if is_running(conn, name) and not conn.shutdown(name, timeout):
        # it did not power off in time and was destroyed: finish as a hard reboot (Nova does)
        journal.advance(env, entry_id, "destroy",
                        note=f"the guest did not shut down within {timeout:g} s: "
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
    # the guest was stopped or started afresh: a reconcile change waiting for that
    # (--reboot on-next-stop) is in it now, or will be at its next start
    records.save(env, uuid, entry_id=entry_id, entry_state=JournalState.DONE, contacted=host_id,
                 vm_state=ACTIVE if running else STOPPED, task_state=None,
                 power_state=(PowerState.RUNNING if running else PowerState.SHUTDOWN).value,
                 pending_restart=None)


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
