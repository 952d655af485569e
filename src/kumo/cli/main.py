"""The ``kumo`` command: a thin layer over the same service functions the API uses.

Each command group lives in its own module under kumo.cli and is registered in COMMANDS below.
User errors (kumo.errors.UserError and other KumoErrors) print one clear line and exit 2 (host
errors exit 3); programming errors are left to raise, so they are never disguised.
"""

from __future__ import annotations

import importlib
import sys

import click

from kumo.errors import HostError, KumoError

#: (module under kumo.cli, attribute) of every top-level command, in help order
COMMANDS: list[tuple[str, str]] = [
    ("guest", "render"),
    ("guest", "explain"),
    ("guest", "lint"),
    ("demo", "demo"),
    ("db", "db"),
    ("placement", "placement"),
    ("hosts", "host"),
    ("images", "image"),
    ("flavors", "flavor"),
    ("servers", "server"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kumo")
def cli() -> None:
    """kumo: boot Windows and Linux guests right, from their image's metadata."""


def _register() -> None:
    for module, attr in COMMANDS:
        try:
            mod = importlib.import_module(f"kumo.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"kumo.cli.{module}":
                raise
            continue  # a command group not built yet
        cli.add_command(getattr(mod, attr))


_register()


def main(argv: list[str] | None = None) -> int:
    try:
        rv = cli.main(args=argv, prog_name="kumo", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except HostError as e:
        click.echo(f"kumo: host error: {e}", err=True)
        return 3
    except KumoError as e:
        click.echo(f"kumo: error: {e}", err=True)
        return 2
    # with standalone_mode=False click returns a command's Exit code instead of raising it
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
