"""hosts.capabilities_key (migration 0022): equal for hosts whose capabilities are equal, kept by
every writer -- ORM and Core inserts, set_capabilities -- and never stale: a change of the
capabilities that leaves the key as it was makes it NULL on SQLite (unknown: the scheduler reads
the JSON itself) or recomputes it on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, update

from kumo.db.models import Host
from kumo.hosts.capabilities import HostCapabilities

KVM = HostCapabilities(hypervisor="kvm", hypervisor_version=(7, 2))
XEN = HostCapabilities(hypervisor="xen", hypervisor_version=(4, 17))


def keys(db) -> dict[str, str | None]:
    with db.session_scope(readonly=True) as s:
        return dict(s.execute(select(Host.name, Host.capabilities_key)).all())


def orm_host(db, name: str, caps: HostCapabilities | None) -> None:
    with db.session_scope() as s:
        host = Host(name=name, uri=f"test:///{name}", hypervisor_type="kvm")
        if caps is not None:
            host.set_capabilities(caps)
        s.add(host)


def test_equal_capabilities_equal_keys_by_orm_and_core_inserts(db):
    orm_host(db, "a", KVM)
    orm_host(db, "b", XEN)
    orm_host(db, "none", None)
    with db.engine.begin() as conn:  # Core, many rows at once (as a bulk import writes them)
        conn.execute(insert(Host), [
            dict(name="c", uri="test:///c", hypervisor_type="kvm", capabilities=KVM.to_json()),
            dict(name="d", uri="test:///d", hypervisor_type="xen", capabilities=XEN.to_json())])
    with db.session_scope() as s:  # the ORM's bulk INSERT
        s.execute(insert(Host), [dict(name="e", uri="test:///e", hypervisor_type="kvm",
                                      capabilities_json=KVM.to_json())])
    got = keys(db)
    assert got["a"] == got["c"] == got["e"] and got["b"] == got["d"]
    assert got["a"] != got["b"] and len(got["a"]) == 64
    assert got["none"] is None


def test_set_capabilities_updates_the_key(db):
    orm_host(db, "a", KVM)
    orm_host(db, "b", XEN)
    with db.session_scope() as s:
        s.scalars(select(Host).where(Host.name == "a")).one().set_capabilities(XEN)
    got = keys(db)
    assert got["a"] == got["b"]


@pytest.mark.parametrize("how", ["orm-attribute", "core-update"])
def test_a_change_that_leaves_the_key_never_leaves_it_stale(db, how):
    """SQLite: NULL (the reader takes the JSON); PostgreSQL: the trigger recomputes it."""
    orm_host(db, "a", KVM)
    orm_host(db, "b", XEN)
    before = keys(db)
    if how == "orm-attribute":  # the JSON assigned without set_capabilities
        with db.session_scope() as s:
            s.scalars(select(Host).where(Host.name == "a")).one().capabilities_json = (
                HostCapabilities(hypervisor="qemu").to_json())
    else:
        with db.engine.begin() as conn:
            conn.execute(update(Host).where(Host.name == "a")
                         .values(capabilities=XEN.to_json()))
    got = keys(db)
    if db.is_sqlite:
        assert got["a"] is None
    else:
        assert got["a"] not in (None, before["a"])
        assert (got["a"] == got["b"]) is (how == "core-update")  # (XEN's, computed alike)
    assert got["b"] == before["b"]
