"""Helpers that write instance records directly, for tests of what happens after a create."""

from __future__ import annotations

from kumo.compute import journal
from kumo.compute.context import RequestContext
from kumo.db.claims import Resources, claim
from kumo.db.models import Host, Instance


def add_instance(env, ctx: RequestContext, host_name: str, *, name: str = "web",
                 props: dict | None = None, step: str | None = None, owner: str | None = None,
                 vm_state: str = "active", public_key: str | None = None) -> str:
    """An instance on ``host_name`` holding its claim; with ``step``, also an unfinished create
    journal entry at that step owned by ``owner``. Returns the uuid."""
    with env.db.session_scope() as s:
        host = s.query(Host).filter_by(name=host_name).one()
        assert claim(s, host.id, Resources(1, 256, 1))
        instance = Instance(name=name, project_id=ctx.project_id, user_id=ctx.user_id,
                            image_id="11111111-2222-4333-8444-555555555555",
                            image_properties=props or {"os_type": "linux"}, flavor_name="tiny",
                            vcpus=1, ram_mib=256, disk_gib=1, host_id=host.id, node=host.name,
                            vm_state=vm_state, public_key=public_key)
        s.add(instance)
        s.flush()
        if step is not None:
            entry = journal.begin(s, env, ctx, "create", instance.uuid, step)
            entry.owner = owner
        return instance.uuid
