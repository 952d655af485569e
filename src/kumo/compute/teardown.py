"""Delete: take an instance off its host, every step journaled, and its recovery.

delete (journal operation ``delete``; step = the step about to be taken):

    destroy    power the domain off, if it runs
    undefine   undefine it, NVRAM included (UEFI guests)
    undefine   undefine it, NVRAM included (UEFI guests); its ports' DHCP reservations and
               filters removed from the host
    volumes    delete the instance's volumes (root overlay, config drive, console log)
    then       release the claim and the ports (addresses), mark the instance deleted, clear
               what of the user's it kept (its public key, user data, a pending password:
               SCRUBBED_ON_DELETE), entry DONE

Every step is idempotent (a domain or volume already gone is fine), so recovery simply runs them
again from the start and finishes the delete. An instance that never reached a host (a create
rolled back, or one no host could take) is just marked deleted. The claim is released in the
transaction that marks the instance deleted (kumo.compute.records), with the heartbeat of the
host that answered. A failure leaves the instance ERROR with the reason, its host and claim
kept, so deleting it again finishes the job.

Failpoints (test-only): delete:after-destroy, delete:after-undefine.
"""

from __future__ import annotations

from collections.abc import Iterable

from kumo.compute import host_networks, journal, naming, records
from kumo.compute.env import ComputeEnv
from kumo.hosts.protocol import HostConnection
from kumo.compute.failpoints import failpoint
from kumo.compute.states import DELETED, now
from kumo.db.models import JournalEntry, JournalState, PowerState
from kumo.db.models.instances import SCRUBBED_ON_DELETE
from kumo.errors import NotFound


def is_running(conn: HostConnection, name: str) -> bool:
    return conn.domain_exists(name) and conn.domain_state(name) == "running"


def remove_from_host(env: ComputeEnv, conn: HostConnection, uuid: str,
                     extra_volumes: Iterable[str] = ()) -> None:
    """Destroy and undefine the instance's domain and delete its volumes (all idempotent)."""
    name = naming.domain_name(uuid)
    if conn.domain_exists(name):
        if is_running(conn, name):
            conn.destroy(name)
        conn.undefine(name)
    host_networks.unplug(env, conn, uuid)
    _delete_volumes(env, conn, [*naming.instance_volumes(uuid), *extra_volumes])


def pool_volumes(env: ComputeEnv, conn: HostConnection) -> set[str]:
    """The volumes in kumo's pool on the host, rescanned (the console log is written behind
    libvirt's back); empty when the pool does not exist yet."""
    try:
        conn.refresh_pool(env.pool_name)
        return set(conn.list_volumes(env.pool_name))
    except NotFound:
        return set()


def _delete_volumes(env: ComputeEnv, conn: HostConnection, names: Iterable[str]) -> None:
    present = pool_volumes(env, conn)
    for volume in names:
        if volume in present:
            conn.delete_volume(env.pool_name, volume)


def run_delete(env: ComputeEnv, entry_id: int, uuid: str) -> None:
    try:
        _delete_steps(env, entry_id, uuid)
    except Exception as e:
        records.fail(env, uuid, entry_id=entry_id, error=str(e),
                     fault=f"delete failed: {e}; delete the server again to retry")
        raise


def _delete_steps(env: ComputeEnv, entry_id: int, uuid: str) -> None:
    _instance, host = records.load(env, uuid)
    if host is not None:
        conn = env.host(host.uri)
        name = naming.domain_name(uuid)
        journal.advance(env, entry_id, "destroy")
        if is_running(conn, name):
            conn.destroy(name)
        failpoint("delete:after-destroy")
        journal.advance(env, entry_id, "undefine")
        if conn.domain_exists(name):
            conn.undefine(name)
        host_networks.unplug(env, conn, uuid)
        failpoint("delete:after-undefine")
        journal.advance(env, entry_id, "volumes")
        _delete_volumes(env, conn, naming.instance_volumes(uuid))
    records.save(env, uuid, entry_id=entry_id, entry_state=JournalState.DONE,
                 release_claim=True, release_ports=True,
                 contacted=host.id if host is not None else None,
                 vm_state=DELETED, task_state=None,
                 power_state=PowerState.NOSTATE.value, deleted=True, deleted_at=now(),
                 terminated_at=now(), **dict.fromkeys(SCRUBBED_ON_DELETE))


def recover_delete(env: ComputeEnv, entry: JournalEntry) -> str:
    _delete_steps(env, entry.id, entry.instance_uuid)
    return f"delete interrupted at step {entry.step}: finished, server deleted"
