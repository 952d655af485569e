"""kumo's settings: where its data lives and which database it uses.

A plain dataclass built from the environment, nothing else (no files, no discovery):

    KUMO_DATA_DIR        data directory              default ~/.local/share/kumo
    KUMO_DATABASE_URL    SQLAlchemy database URL     default sqlite:///<data_dir>/kumo.db
                         (PostgreSQL: postgresql+psycopg://kumo@127.0.0.1:55432/kumo)
    KUMO_IMAGE_DIR       image store directory       default <data_dir>/images
    KUMO_GUEST_TIMEZONE  time zone local-time guests keep their RTC in; default None (the host's)

An empty variable counts as unset. Nothing is created on disk here: the database layer creates
the SQLite file's directory when it first connects, the image store creates its own directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

DEFAULT_DATA_DIR = "~/.local/share/kumo"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    image_dir: Path
    guest_timezone: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        data_dir = _path(get("KUMO_DATA_DIR") or DEFAULT_DATA_DIR)
        return cls(
            data_dir=data_dir,
            database_url=get("KUMO_DATABASE_URL") or sqlite_url(data_dir / "kumo.db"),
            image_dir=_path(get("KUMO_IMAGE_DIR")) if get("KUMO_IMAGE_DIR")
            else data_dir / "images",
            guest_timezone=get("KUMO_GUEST_TIMEZONE"),
        )


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of the SQLite database file at ``path`` (made absolute)."""
    return f"sqlite:///{_path(path)}"


def _path(value: str | Path) -> Path:
    return Path(value).expanduser().absolute()
