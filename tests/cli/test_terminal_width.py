"""At 80 columns in a real terminal (a pty, as pexpect gives), tables fit the terminal and no
UUID or lint id is split across lines: id columns keep their full width and the other columns
wrap. A line no wider than the terminal is not wrapped by it, so each id must appear whole on
one line and every line must fit in 80 columns."""

from __future__ import annotations

import json
import os
import re
import sys

import pexpect
import pytest

from kumo.compute.context import admin_context
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.compute.records import add_instance

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Env:
    def __init__(self, db):
        self.db, self.owner = db, "test"


def in_terminal(columns: int, *argv: str) -> list[str]:
    """kumo ARGV's output lines in a pty ``columns`` wide (COLUMNS unset: the pty decides)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    child = pexpect.spawn(sys.executable, ["-m", "kumo.cli.main", *argv], env=env,
                          dimensions=(50, columns), encoding="utf-8", timeout=60)
    text = child.read()
    child.close()
    assert child.exitstatus in (0, 1), text
    return [ANSI.sub("", line) for line in text.replace("\r\n", "\n").split("\n")]


def assert_whole(lines: list[str], ids: list[str], columns: int) -> None:
    too_wide = [line for line in lines if len(line) > columns]
    assert too_wide == []
    for ident in ids:
        assert any(ident in line for line in lines), f"{ident} split or missing:\n" + \
            "\n".join(lines)


@pytest.fixture
def servers(kumo, db, test_host):
    uuids = [add_instance(_Env(db), admin_context(), test_host, name=f"web-{i}")
             for i in range(3)]
    for i in range(2):
        assert kumo("image", "create", f"windows-server-2019-datacenter-{i}", "--property",
                    "os_type=windows")[0] == 0
    return uuids


@pytest.mark.parametrize("columns", [80, 120])
def test_server_list_keeps_uuids_whole(kumo, servers, columns):
    lines = in_terminal(columns, "server", "list")
    assert_whole(lines, servers, columns)
    assert len([ln for ln in lines if UUID.search(ln)]) == 3


def test_image_list_and_server_show(kumo, servers):
    images = [i["id"] for i in json.loads(kumo("image", "list", "-f", "json")[1])]
    assert_whole(in_terminal(80, "image", "list"), images, 80)
    assert_whole(in_terminal(80, "server", "show", servers[0]), [servers[0]], 80)


def test_lint_ids_whole_at_80_columns():
    lines = in_terminal(80, "lint", "-p", "os_type=linux", "-p", "os_distro=windows", "-p",
                        "hw_tpm_version=1.2", "-p", "hw_tpm_model=tpm-crb", "-p",
                        "hw_disk_bus=virtio")
    assert_whole(lines, ["os-type-contradiction", "tpm-crb-needs-2.0"], 80)


def test_piped_output_follows_columns(kumo, servers, monkeypatch):
    """Piped, a table is as wide as COLUMNS says (and unwrapped without it)."""
    monkeypatch.setenv("COLUMNS", "100")
    out = kumo("server", "list")[1]
    assert max(len(line) for line in out.splitlines()) <= 100
    assert all(u in out for u in servers)
    monkeypatch.delenv("COLUMNS")
    out = kumo("server", "list")[1]
    assert len([ln for ln in out.splitlines() if UUID.search(ln)]) == 3
