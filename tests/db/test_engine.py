"""Engines and units of work; kumo.config's settings (the database URL comes from there)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from kumo.config import Settings
from kumo.db import Database, connect
from kumo.db.models import Flavor


def test_sqlite_is_set_up_for_a_threaded_controller(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/new/dir/kumo.db")  # directory made on demand
    try:
        with database.engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 30000
    finally:
        database.dispose()
    assert (tmp_path / "new" / "dir" / "kumo.db").exists()


def test_postgresql_urls_use_psycopg3():
    database = Database("postgresql://kumo@127.0.0.1:55432/kumo")  # no connection made
    assert database.url.drivername == "postgresql+psycopg"
    assert not database.is_sqlite


def test_session_scope_commits_or_rolls_back(db):
    with pytest.raises(RuntimeError):
        with db.session_scope() as s:
            s.add(Flavor(name="lost", vcpus=1, ram_mib=512))
            s.flush()
            raise RuntimeError("boom")
    with db.session_scope() as s:
        s.add(Flavor(name="kept", vcpus=1, ram_mib=512))
    with db.session_scope(readonly=True) as s:
        assert s.scalars(select(Flavor.name)).all() == ["kept"]
        flavor = s.scalars(select(Flavor)).one()
    assert flavor.ram_mib == 512  # still readable after the unit of work ended


def test_connect_uses_the_configured_database(tmp_path, monkeypatch):
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KUMO_DATABASE_URL", raising=False)
    database = connect()
    try:
        assert database.url.database == str(tmp_path / "kumo.db")
        with database.session_scope(readonly=True) as s:
            assert s.scalar(select(func.count()).select_from(select(1).subquery())) == 1
    finally:
        database.dispose()


@pytest.mark.parametrize("env, expected", [
    ({}, dict(data_dir=Path("~/.local/share/kumo").expanduser(),
              database_url=f"sqlite:///{Path('~/.local/share/kumo').expanduser()}/kumo.db",
              image_dir=Path("~/.local/share/kumo/images").expanduser(), guest_timezone=None)),
    ({"KUMO_DATA_DIR": "/srv/kumo"},
     dict(data_dir=Path("/srv/kumo"), database_url="sqlite:////srv/kumo/kumo.db",
          image_dir=Path("/srv/kumo/images"), guest_timezone=None)),
    ({"KUMO_DATA_DIR": "/srv/kumo", "KUMO_DATABASE_URL":
      "postgresql+psycopg://kumo@127.0.0.1:55432/kumo", "KUMO_IMAGE_DIR": "/data/images",
      "KUMO_GUEST_TIMEZONE": "Asia/Shanghai"},
     dict(data_dir=Path("/srv/kumo"), database_url="postgresql+psycopg://kumo@127.0.0.1:55432/kumo",
          image_dir=Path("/data/images"), guest_timezone="Asia/Shanghai")),
    ({"KUMO_DATA_DIR": "", "KUMO_DATABASE_URL": "  "},
     dict(data_dir=Path("~/.local/share/kumo").expanduser(),
          database_url=f"sqlite:///{Path('~/.local/share/kumo').expanduser()}/kumo.db",
          image_dir=Path("~/.local/share/kumo/images").expanduser(), guest_timezone=None)),
], ids=["defaults", "data-dir", "everything-set", "empty-means-unset"])
def test_settings_from_env(env, expected):
    assert Settings.from_env(env) == Settings(**expected)


def test_a_reading_session_does_not_block_a_unit_of_work(db, session):
    assert session.scalars(select(Flavor)).all() == []  # its transaction stays open
    with db.session_scope() as s:  # on SQLite: BEGIN IMMEDIATE, granted at once (WAL)
        s.add(Flavor(name="m1", vcpus=1, ram_mib=512))
    session.rollback()
    assert session.scalars(select(Flavor.name)).all() == ["m1"]
