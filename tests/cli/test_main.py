"""The kumo command itself: lazily loaded command groups, --help, --version, and a start-up
that imports neither numpy, SQLAlchemy nor Alembic for commands that do not use them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import click
import pytest

import kumo

from kumo.cli.main import COMMANDS, cli, main


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_help_is_the_commands_own(name):
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.name == name
    assert COMMANDS[name][2] == command.get_short_help_str(limit=1000)


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.split("Commands:\n")[1].splitlines()
            if line.startswith("  ") and not line.startswith("    ")] == list(COMMANDS)


def test_version(capsys):
    """kumo.__version__ is the one definition (pyproject reads it); the installed metadata
    agrees."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"kumo {kumo.__version__}\n"
    assert version("kumo") == kumo.__version__


#: what only some commands need: the database, the scheduler's arrays, the configuration's
#: pydantic (render needs a host default, not the configuration), the HTTP stack, libvirt,
#: importlib.resources (it drags in tempfile, shutil and zipfile), and zoneinfo (only when a
#: time zone is given)
HEAVY = ("numpy", "sqlalchemy", "alembic", "pydantic", "kumo.config", "fastapi", "starlette",
         "httpx", "libvirt", "importlib.resources", "zoneinfo")


@pytest.mark.parametrize("argv", [["--help"], ["render", "-p", "os_distro=win10"],
                                  ["lint", "-p", "os_distro=win10"], ["--version"]],
                         ids=["help", "render", "lint", "version"])
def test_light_commands_import_no_database_or_numpy(argv):
    """Run in a fresh interpreter: which of numpy/SQLAlchemy/Alembic did the command import?"""
    code = ("import sys, json\nfrom kumo.cli.main import main\n"
            f"rc = main({argv!r})\n"
            f"print(json.dumps([rc, sorted(m for m in {HEAVY!r} if m in sys.modules)]), "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert json.loads(done.stderr.splitlines()[-1]) == [0, []]


def test_help_imports_no_command_module():
    """``kumo --help`` lists the commands from the table in kumo.cli.main: it imports no
    command's module (each costs its own imports)."""
    code = ("import sys\nfrom kumo.cli.main import main\nrc = main(['--help'])\n"
            "print(rc, sorted(m for m in sys.modules if m.startswith('kumo')), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stderr.splitlines()[-1] == "0 ['kumo', 'kumo.cli', 'kumo.cli.main', 'kumo.errors']"


def test_a_database_command_does_import_sqlalchemy(tmp_path):
    """(the check above can fail: a command that needs the database imports it)"""
    code = ("import sys, json\nfrom kumo.cli.main import main\n"
            f"rc = main(['db', 'current', '--database-url', 'sqlite:///{tmp_path}/k.db'])\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), "
            "file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert "sqlalchemy" in json.loads(done.stderr.splitlines()[-1])


@pytest.mark.parametrize("argv", [["server", "list"], ["server", "show", "nope"],
                                  ["host", "list"]],
                         ids=["server-list", "server-show", "host-list"])
def test_a_command_on_a_current_database_imports_no_alembic(tmp_path, argv):
    """Alembic is for changing or checking the schema (kumo db, doctor, kumo serve's start, and
    the error saying a database is behind): a command on a database at the current revision
    does not import it, nor numba (only kumo serve compiles the scheduler's kernel)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KUMO_")},
           "KUMO_DATA_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-m", "kumo.cli.main", "db", "upgrade"], env=env,
                   capture_output=True, check=True)
    code = ("import sys, json\nfrom kumo.cli.main import main\n"
            f"rc = main({argv!r})\n"
            "print(json.dumps([rc, sorted(m for m in ('sqlalchemy', 'alembic', 'numba') "
            "if m in sys.modules)]), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    rc = 2 if argv[-1] == "nope" else 0  # (server 'nope' not found: a one-line error)
    assert json.loads(done.stderr.splitlines()[-1]) == [rc, ["sqlalchemy"]]
