"""Controller start and stop: one controller per SQLite file, a migrated database, and on stop
what this controller still owns is handed back through the journal."""

from __future__ import annotations

import os

import pytest

from kumo.db.models import JournalEntry
from kumo.errors import StateError
from kumo.serve.controller import Controller
from kumo.serve.locks import SQLiteControllerLock
from tests.compute.records import add_instance


def test_a_second_controller_on_one_sqlite_file_refuses(tmp_path):
    first = SQLiteControllerLock(tmp_path / "kumo.db")
    first.acquire()
    try:
        with pytest.raises(StateError) as e:
            SQLiteControllerLock(tmp_path / "kumo.db").acquire()
        assert str(e.value) == (
            f"another kumo serve (pid {os.getpid()}) already runs on the SQLite database "
            f"{tmp_path}/kumo.db: SQLite allows one controller; stop it, or use PostgreSQL "
            "(database_url) for several")
    finally:
        first.release()
    SQLiteControllerLock(tmp_path / "kumo.db").acquire()  # free again once released


def test_stop_hands_back_what_is_in_flight(env, admin, kvm_host):
    uuid = add_instance(env, admin, kvm_host, step="upload", owner=None, vm_state="building")
    with env.db.session_scope() as s:
        s.query(JournalEntry).filter_by(instance_uuid=uuid).one().owner = env.owner
    controller = Controller(env.settings, env)
    controller._started = True  # as after start(), without its threads and event loop
    controller.stop()
    with env.db.session_scope(readonly=True) as s:
        entry = s.query(JournalEntry).filter_by(instance_uuid=uuid).one()
        assert (entry.state, entry.owner, entry.lease_expires_at) == ("in-progress", None, None)


def test_an_unmigrated_database_is_refused(tmp_path):
    from kumo.config import Settings

    settings = Settings(data_dir=tmp_path)
    controller = Controller(settings)
    try:
        with pytest.raises(StateError, match=r"is at revision none \(empty\), kumo needs .*: "
                                             r"run `kumo db upgrade` first$"):
            controller.start()
    finally:
        controller.stop()
