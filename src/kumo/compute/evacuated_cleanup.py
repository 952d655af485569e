"""A failed host that comes back: its stale domains of evacuated instances are destroyed, never
started.

Nova's compute manager does this at start (``_destroy_evacuated_instances``): the guests that
were rebuilt elsewhere while the host was down still have their domains (and, without shared
storage, their disks) on it, and starting one would give two copies of a guest -- two writers of
its data, two holders of its addresses and licence. Here, whenever a host answers again after
being down, and while it is still fenced (forced down), and when the operator clears the fencing
(``kumo host set HOST --up``, which refuses while the host does not answer and has such domains
to clean), each domain on it that

* carries this installation's ``<kumo:instance>`` mark (another kumo's domains on the same daemon
  are not ours to judge, nor a look-alike name without the mark), and
* names an instance this installation evacuated from this host (a create journal entry with
  ``evacuated_from`` = the host, or the confirm or revert that decided its move without the
  host) that is no longer recorded on it,

is destroyed if running and undefined, and its volumes deleted (kumo.compute.teardown
.remove_from_host), under a journal entry (operation ``evacuated-cleanup``) written before it
acts. Nothing is ever started. Other domains kumo does not know are reported by
``kumo host orphans``, never removed.
"""

from __future__ import annotations

from sqlalchemy import select

from kumo import logs
from kumo.backends.libvirt_xml.domain import Domain
from kumo.compute import heartbeat, journal, naming
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.installation import installation_id
from kumo.compute.teardown import pool_volumes, remove_from_host
from kumo.db.models import Host, Instance, JournalEntry, JournalState
from kumo.errors import DomainNotFound

OPERATION = "evacuated-cleanup"
#: the operations whose entries name ``evacuated_from``: an evacuation's rebuild elsewhere
#: (create), and an undecided move decided without the failed host (kumo.compute.moves
#: .decide_without: its copy there is stale)
EVACUATING = ("create", "migrate-confirm", "migrate-revert")

log = logs.get(__name__)


def stale_instances(env: ComputeEnv, host_id: int) -> list[str]:
    """Uuids of this installation's instances evacuated from the host whose domain or volumes
    are still on it (the host is asked)."""
    with env.db.session_scope(readonly=True) as s:
        host = s.get_one(Host, host_id)
        uri = host.uri
    conn = env.host(uri)
    ours = installation_id(env.db)
    found: set[str] = set()
    for name in conn.list_domains():
        uuid = naming.instance_of_domain(name)
        if not uuid:
            continue
        try:
            mark = Domain.from_xml(conn.domain_xml(name, inactive=True)).kumo
        except DomainNotFound:  # undefined since it was listed
            continue
        if mark is not None and mark.installation == ours and mark.uuid == uuid:
            found.add(uuid)
    volumes = {naming.instance_of_volume(v) for v in pool_volumes(env, conn)}
    found |= {u for u in volumes if u}
    return _evacuated_from(env, host_id, found)


def _evacuated_from(env: ComputeEnv, host_id: int, uuids: set[str]) -> list[str]:
    if not uuids:
        return []
    with env.db.session_scope(readonly=True) as s:
        host = s.get_one(Host, host_id)
        still_here = set(s.scalars(select(Instance.uuid).where(
            Instance.uuid.in_(uuids), Instance.host_id == host_id,
            Instance.deleted.is_(False))))
        moved = {e.instance_uuid for e in s.scalars(select(JournalEntry).where(
            JournalEntry.instance_uuid.in_(uuids), JournalEntry.operation.in_(EVACUATING)))
            if e.payload.get("evacuated_from") == host.name}
    return sorted(moved - still_here)


def evacuated_away(env: ComputeEnv, host_id: int) -> bool:
    """Whether any instance this installation evacuated from the host is recorded elsewhere
    (then the host must be asked before it is trusted again)."""
    with env.db.session_scope(readonly=True) as s:
        host = s.get_one(Host, host_id)
        uuids = {e.instance_uuid for e in s.scalars(select(JournalEntry).where(
            JournalEntry.operation.in_(EVACUATING), JournalEntry.instance_uuid.is_not(None)))
            if e.payload.get("evacuated_from") == host.name}
    return bool(uuids)


def clean(env: ComputeEnv, ctx: RequestContext, host_id: int) -> list[str]:
    """Destroy, undefine and delete the volumes of the host's stale evacuated instances (see
    the module docstring); their uuids. HostError when the host does not answer."""
    stale = stale_instances(env, host_id)
    if not stale:
        return []
    with env.db.session_scope() as s:
        host = s.get_one(Host, host_id)
        name, uri = host.name, host.uri
        entry = journal.begin(s, env, ctx, OPERATION, None, "destroy", host=name,
                              host_id=host_id, uri=uri, instances=stale, by=ctx.user_id,
                              domains=[naming.domain_name(u) for u in stale])
        s.flush()
        entry_id = entry.id
    conn = env.host(uri)
    for uuid in stale:
        log.warning("host %s is back: destroying the stale domain %s of instance %s, "
                    "evacuated from it (never started again)", name, naming.domain_name(uuid),
                    uuid, extra={"host": name, "instance": uuid})
        remove_from_host(env, conn, uuid)
    with env.db.session_scope() as s:
        journal.finish(s, entry_id, JournalState.DONE)
    heartbeat.beat(env, host_id)
    return stale


def recover_cleanup(env: ComputeEnv, entry: JournalEntry) -> str:
    """Interrupted: cleaning is idempotent; do it again (HostUnreachable: retried later)."""
    host_id = entry.payload["host_id"]
    with env.db.session_scope(readonly=True) as s:
        exists = s.get(Host, host_id) is not None
    if exists:
        conn = env.host(entry.payload["uri"])
        for uuid in _evacuated_from(env, host_id, set(entry.payload.get("instances", []))):
            remove_from_host(env, conn, uuid)
    with env.db.session_scope() as s:
        journal.finish(s, entry.id, JournalState.DONE)
    return (f"cleanup of evacuated instances' stale domains on host {entry.payload.get('host')} "
            "interrupted: finished")
