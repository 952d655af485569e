"""Models on both backends: uniqueness, constraints, cascades, value round-trips."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from kumo.db.models import (PROPERTY_VALUE_MAX, Aggregate, Flavor, Host, Image, ImageProperty,
                            Instance, JournalEntry, JournalState, KeyPair, ServerGroup,
                            hypervisor_version_key)
from kumo.db.queries import unfinished_operations, unfinished_operations_query
from kumo.hosts.capabilities import default_host_caps


def _host(name: str, **kw) -> Host:
    kw.setdefault("uri", "qemu:///system")
    kw.setdefault("hypervisor_type", "kvm")
    return Host(name=name, **kw)


def _instance(**kw) -> Instance:
    kw.setdefault("name", "vm")
    kw.setdefault("project_id", "p1")
    kw.setdefault("user_id", "u1")
    kw.setdefault("vcpus", 1)
    kw.setdefault("ram_mib", 512)
    return Instance(**kw)


def test_host_name_is_unique_and_exact(db):
    with db.session_scope() as s:
        s.add_all([_host("XXXX-HOST-YYYY34"), _host("XXXX-HOST-YYYY340")])
    with pytest.raises(IntegrityError):
        with db.session_scope() as s:
            s.add(_host("XXXX-HOST-YYYY34", uri="qemu+ssh://other/system"))
    with db.session_scope(readonly=True) as s:
        names = s.scalars(select(Host.name).where(Host.name == "XXXX-HOST-YYYY34")).all()
    assert names == ["XXXX-HOST-YYYY34"]


def test_host_capabilities_round_trip(db):
    caps = default_host_caps()
    with db.session_scope() as s:
        host = _host("c1")
        host.set_capabilities(caps)
        s.add(host)
    with db.session_scope(readonly=True) as s:
        host = s.scalars(select(Host).where(Host.name == "c1")).one()
        assert host.capabilities() == caps
        assert host.hypervisor_type == caps.hypervisor


@pytest.mark.parametrize("older, newer", [
    ("6.2", "6.3"),
    ("6.3", "6.3.9600"),
    ("6.3.9600", "10.0.17763"),
    ("7.2.0", "8.0.0"),
    ("7.9.99", "7.10.0"),
    ((4, 17), "4.17.1"),
], ids=["minor", "micro-vs-none", "windows-builds", "major", "two-digit-minor", "tuple"])
def test_hypervisor_version_key_sorts_like_versions(older, newer):
    assert hypervisor_version_key(older) < hypervisor_version_key(newer)


def test_hypervisor_versions_compare_in_sql(db):
    with db.session_scope() as s:
        for name, version in (("hv2012", "6.2.9200"), ("hv2012r2", "6.3.9600"),
                              ("hv2019", "10.0.17763")):
            host = _host(name, hypervisor_type="hyperv")
            host.set_hypervisor_version(version)
            s.add(host)
    with db.session_scope(readonly=True) as s:
        capable = s.scalars(select(Host.name).where(
            Host.hypervisor_version_key >= hypervisor_version_key("6.3"))
            .order_by(Host.hypervisor_version_key)).all()
    assert capable == ["hv2012r2", "hv2019"]


def test_used_capacity_cannot_go_negative(db):
    with db.session_scope() as s:
        s.add(_host("c1", ram_mib=1024))
    with pytest.raises(IntegrityError):
        with db.session_scope() as s:
            s.execute(update(Host).values(used_ram_mib=Host.used_ram_mib - 1))


def test_virt_type_is_kvm_or_qemu(db):
    with pytest.raises(IntegrityError):
        with db.session_scope() as s:
            s.add(_host("c1", virt_type="xen"))


def test_aggregates_with_metadata_and_hosts(db):
    with db.session_scope() as s:
        agg = Aggregate(name="ssd", availability_zone="az1")
        agg.meta["disk"] = "ssd"
        agg.hosts.append(_host("c1"))
        s.add(agg)
    with db.session_scope(readonly=True) as s:
        host = s.scalars(select(Host)).one()
        assert [(a.name, dict(a.meta)) for a in host.aggregates] == [("ssd", {"disk": "ssd"})]


def test_image_properties_are_rows_and_go_with_their_image(db):
    with db.session_scope() as s:
        image = Image(name="win2019", visibility="public")
        image.properties.update({"os_type": "windows", "release_date": "2020-01-01"})
        image.tags.append("windows")
        s.add(image)
    with db.session_scope() as s:
        rows = s.execute(select(ImageProperty.name, ImageProperty.value)
                         .order_by(ImageProperty.name)).all()
        assert rows == [("os_type", "windows"), ("release_date", "2020-01-01")]
        s.execute(delete(Image))  # a Core delete: the database's ON DELETE CASCADE does it
    with db.session_scope(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(ImageProperty)) == 0


@pytest.mark.parametrize("value, accepted", [
    ("字" * PROPERTY_VALUE_MAX, True),  # 765 bytes: the (name, value) index holds it
    ("x" * (PROPERTY_VALUE_MAX + 1), False),
    ("字" * 1000, False),  # PostgreSQL's btree could not index it: refused the same way on both
], ids=["longest-multibyte", "one-too-long", "over-index-limit"])
def test_property_values_have_one_length_limit_on_both_backends(db, value, accepted):
    def add():
        with db.session_scope() as s:
            image = Image(name="i")
            image.properties["description"] = value
            s.add(image)
    if accepted:
        add()
    else:
        with pytest.raises(IntegrityError, match="value_length"):
            add()


def test_flavor_extra_specs_and_name_unique(db):
    with db.session_scope() as s:
        flavor = Flavor(name="m1.small", vcpus=1, ram_mib=2048, disk_gib=20)
        flavor.extra_specs["hw:disk_bus"] = "scsi"
        s.add(flavor)
    with db.session_scope(readonly=True) as s:
        assert dict(s.scalars(select(Flavor)).one().extra_specs) == {"hw:disk_bus": "scsi"}
    with pytest.raises(IntegrityError):
        with db.session_scope() as s:
            s.add(Flavor(name="m1.small", vcpus=2, ram_mib=4096))


def test_key_pair_names_are_per_user(db):
    with db.session_scope() as s:
        for user in ("u1", "u2"):
            s.add(KeyPair(name="k", project_id="p1", user_id=user, public_key="ssh-ed25519 AAAA",
                          fingerprint="SHA256:x"))
    with pytest.raises(IntegrityError):
        with db.session_scope() as s:
            s.add(KeyPair(name="k", project_id="p2", user_id="u1", public_key="ssh-ed25519 B",
                          fingerprint="SHA256:y"))


def test_instance_keeps_its_frozen_record(db):
    with db.session_scope() as s:
        host = _host("c1")
        group = ServerGroup(name="g", project_id="p1", user_id="u1", policy="anti-affinity")
        s.add_all([host, group])
        s.flush()
        s.add(_instance(host_id=host.id, server_group=group, image_id="img-1",
                        image_properties={"os_type": "linux"},
                        flavor_extra_specs={"hw:disk_bus": "scsi"}))
    with db.session_scope() as s:
        vm = s.scalars(select(Instance)).one()
        vm.image_properties["os_type"] = "windows"  # in-place change is tracked (seed 001)
    with db.session_scope(readonly=True) as s:
        vm = s.scalars(select(Instance)).one()
        assert vm.image_properties == {"os_type": "windows"}
        assert vm.host.name == "c1" and vm.server_group.members == [vm]
        assert vm.version == 2


def test_instance_host_must_exist(db):
    with pytest.raises(IntegrityError):
        with db.session_scope() as s:
            s.add(_instance(host_id=12345))


def test_concurrent_instance_changes_do_not_silently_overwrite(db):
    with db.session_scope() as s:
        s.add(_instance())
    first, second = db.session(), db.session()
    try:
        a = first.scalars(select(Instance)).one()
        first.commit()  # objects stay loaded (expire_on_commit=False), at version 1
        b = second.scalars(select(Instance)).one()
        second.commit()
        a.task_state = "rebooting"
        first.commit()
        b.task_state = "deleting"  # based on version 1, which is gone
        with pytest.raises(StaleDataError):
            second.commit()
    finally:
        first.close()
        second.close()


def test_timestamps_are_aware_utc_on_both_backends(db):
    before = datetime.now(timezone.utc)
    with db.session_scope() as s:
        beijing = timezone(timedelta(hours=8))
        s.add(_host("c1", last_heartbeat=datetime(2026, 1, 1, 9, tzinfo=beijing)))
    with db.session_scope(readonly=True) as s:
        host = s.scalars(select(Host)).one()
    assert host.last_heartbeat == datetime(2026, 1, 1, 1, tzinfo=timezone.utc)
    assert host.last_heartbeat.utcoffset() == timedelta(0)
    assert host.created_at.tzinfo is not None and host.created_at >= before


def test_naive_timestamps_are_refused(db):
    with pytest.raises(Exception, match="naive datetime"):
        with db.session_scope() as s:
            s.add(_host("c1", last_heartbeat=datetime(2026, 1, 1)))


def test_unfinished_operations_in_order(db):
    states = ["done", "in-progress", "failed", "pending", "rolled-back", "in-progress"]
    with db.session_scope() as s:
        for i, state in enumerate(states):
            s.add(JournalEntry(instance_uuid=f"vm-{i}", operation="create", state=state))
    with db.session_scope(readonly=True) as s:
        found = [(j.instance_uuid, j.state) for j in unfinished_operations(s)]
    assert found == [("vm-1", "in-progress"), ("vm-3", "pending"), ("vm-5", "in-progress")]
    assert {JournalState(st) for _, st in found} <= {JournalState.PENDING, JournalState.IN_PROGRESS}


def test_unfinished_operations_query_uses_the_state_index(db):
    stmt = unfinished_operations_query()
    with db.engine.connect() as conn:
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if db.is_sqlite:
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")  # tiny table: make the choice visible
            plan = " ".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))
        conn.rollback()
    assert "ix_journal_state_id" in plan
