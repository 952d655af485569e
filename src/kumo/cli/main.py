"""The ``kumo`` command: a thin layer over the same service functions the API uses.

Each command group lives in its own module under kumo.cli and is registered in COMMANDS below
with its one-line help. A command's module is imported only when that command runs (or its own
help is asked for), so ``kumo --help`` and ``kumo render`` never import SQLAlchemy, Alembic or
numpy: start-up stays well under the ~0.6 s an eager import of every command cost.
tests/cli/test_main.py checks that each help here is the command's own short help.

Options every command takes, before or after the command's own words: ``-v/--verbose`` (log
info lines to stderr), ``--debug`` (debug lines too), ``--config FILE`` (the configuration file,
as KUMO_CONFIG; kumo.config). Logging is set up from the configuration (log_format, log_file).

Whatever goes wrong, the user reads one line on stderr, never a traceback:

    exit 2   kumo: error: ...         the request is wrong (kumo.errors.UserError and other
                                      KumoErrors), or the command line is (click's usage errors)
    exit 3   kumo: host error: ...    a hypervisor host failed or refused
    exit 1   kumo: error: ...         the environment: the database cannot be used
                                      (kumo.db.failures), a file or directory cannot be read or
                                      written (OSError with its path)
    exit 70  kumo: internal error: ...  a bug in kumo (EX_SOFTWARE): the exception's type and
                                      message on one line; KUMO_DEBUG=1 re-raises it with its
                                      traceback. Never a user's mistake in disguise: the tests
                                      (tests/cli/test_no_traceback.py) fail on it.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from kumo import __version__
from kumo.errors import DatabaseUnusable, HostError, KumoError

#: name -> (module under kumo.cli, attribute, one-line help), in help order
COMMANDS: dict[str, tuple[str, str, str]] = {
    "render": ("guest", "render", "Print the guest's whole native configuration (libvirt domain "
                                  "XML for kvm/qemu/xen, the PowerShell that creates the VM for "
                                  "hyperv)."),
    "explain": ("guest", "explain", "Print every decision with its rule, source property and "
                                    "value, and reason."),
    "lint": ("guest", "lint", "Print findings (id, severity, message, fix); exit 1 when any is "
                              "an error."),
    "demo": ("demo", "demo", "Lint, explain and render every bundled sample image, then boot a "
                             "Windows and a Linux guest."),
    "doctor": ("doctor", "doctor", "Check that this machine can run kumo, and say what to fix."),
    "completion": ("completion", "completion", "Print the shell completion script for bash, zsh "
                                               "or fish."),
    "db": ("db", "db", "kumo's database: schema migrations."),
    "placement": ("placement", "placement", "Where guests go: the scheduler's filters and "
                                            "weighers over the registered hosts."),
    "host": ("hosts", "host", "Hypervisor hosts, named exactly (a name never matches another by "
                              "its prefix)."),
    "aggregate": ("aggregates", "aggregate", "Host aggregates: groups of hosts with metadata "
                                             "the scheduler reads."),
    "image": ("images", "image", "Images: validated properties, data checked by qemu-img and kept "
                                 "in kumo's image store."),
    "flavor": ("flavors", "flavor", "Flavors: guest sizes, and extra specs that may override "
                                    "image properties."),
    "server": ("servers", "server", "Servers (instances) on kumo's hosts."),
    "network": ("networks", "network", "Networks: a subnet, kumo's addresses for servers' "
                                       "ports, a libvirt network (or host bridge) on each host."),
    "security-group": ("networks", "security_group", "Security groups: ingress and egress "
                                                     "rules enforced on ports by libvirt "
                                                     "nwfilter."),
    "reconcile": ("reconcile", "reconcile", "Plan (default), --apply or --revert a change of "
                                            "servers' frozen image properties."),
    "keypair": ("keypairs", "keypair", "SSH key pairs: the public keys your servers are created "
                                       "with (--key-name)."),
    "bootstrap": ("identity", "bootstrap", "Create the first admin: a project and a user with "
                                           "the admin role on it (idempotent; re-running sets "
                                           "the password again)."),
    "project": ("identity", "project", "Identity projects (tenants): what owns servers, images "
                                       "and key pairs."),
    "user": ("identity", "user", "Identity users: who gets API tokens (password hashed with "
                                 "argon2)."),
    "role": ("identity", "role", "Role assignments: admin, member or reader of a project."),
    "audit": ("audit", "audit", "Compare every instance with its record, its image and today's "
                                "rules; exit 1 on errors."),
    "ec2-credentials": ("ec2", "ec2_credentials", "EC2 credentials (access key id + secret of a "
                                                  "user in a project) for the EC2 Query API."),
    "serve": ("serve", "serve", "Run the controller as a service: periodic power-state sync, host "
                                "liveness, recovery, image-cache aging; /healthcheck, /metrics."),
}
EX_SOFTWARE = 70

#: flags taken anywhere on the command line (moved to the front by ``main``)
GLOBAL_FLAGS = ("-v", "--verbose", "--debug")


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use; ``kumo --help`` lists them from
    COMMANDS without importing any."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _, _) in COMMANDS.items() if _exists(module)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        try:
            mod = importlib.import_module(f"kumo.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"kumo.cli.{module}":
                raise
            return None  # a command group not built yet
        return getattr(mod, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _exists(module: str) -> bool:
    from importlib.util import find_spec
    return find_spec(f"kumo.cli.{module}") is not None


@click.group("kumo", cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="kumo", message="%(prog)s %(version)s")
@click.option("--config", "config_file", default=None, metavar="FILE",
              help="Configuration file (default: $KUMO_CONFIG, else /etc/kumo/kumo.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Log what kumo does (info) to stderr.")
@click.option("--debug", is_flag=True, help="Log debug detail too.")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, verbose: bool, debug: bool) -> None:
    """kumo: boot Windows and Linux guests right, from their image's metadata."""
    from kumo import logs  # the standard library only: render and --help stay fast

    if config_file:
        os.environ["KUMO_CONFIG"] = config_file  # kumo.config.CONFIG_ENV, read by every command
    ctx.obj = {"verbose": verbose, "debug": debug}
    # the configuration's log_format and log_file apply once a command reads it (open_env)
    logs.setup("debug" if debug else "info" if verbose else "error")


def _global_flags_first(argv: list[str]) -> list[str]:
    """``kumo server list -v`` as ``kumo -v server list``: the global flags work anywhere
    before a ``--``."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in GLOBAL_FLAGS]
    return [*flags, *(a for a in argv[:end] if a not in GLOBAL_FLAGS), *argv[end:]]


def _say(prefix: str, message: object) -> None:
    from kumo.cli.output import error_line

    click.echo(f"kumo: {prefix}{error_line(str(message))}", err=True)


def _undecodable(argv: list[str]) -> str | None:
    """The one-line complaint about the first argument that is not text (bytes that were not
    UTF-8 arrive as lone surrogates, which no database, file name or terminal can take)."""
    for i, arg in enumerate(argv, 1):
        for j, ch in enumerate(arg):
            if 0xD800 <= ord(ch) <= 0xDFFF:
                return (f"argument {i} is not valid UTF-8 text (byte 0x{ord(ch) & 0xFF:02x} at "
                        f"position {j}): allowed UTF-8")
    return None


def main(argv: list[str] | None = None) -> int:
    argv = _global_flags_first(list(sys.argv[1:] if argv is None else argv))
    bad = _undecodable(argv)
    if bad is not None:
        _say("error: ", bad)
        return 2
    try:
        rv = cli.main(args=argv, prog_name="kumo", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else "kumo"
        _say("error: ", f"{e.format_message()} (see `{where} -h`)")
        return 2
    except click.ClickException as e:
        _say("error: ", e.format_message())
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except HostError as e:
        _say("host error: ", e)
        return 3
    except DatabaseUnusable as e:
        _say("error: ", e)
        return 1
    except KumoError as e:
        _say("error: ", e)
        return 2
    except Exception as e:  # noqa: BLE001 -- translated below, or reported as a bug
        return _unexpected(e)
    # with standalone_mode=False click returns a command's Exit code instead of raising it
    return rv if isinstance(rv, int) else 0


def _unexpected(err: Exception) -> int:
    """The one line for an exception no command translated (module docstring)."""
    from kumo.db.failures import translate

    if os.environ.get("KUMO_DEBUG") == "1":
        raise err
    try:
        from kumo.config import Settings

        db_error = translate(err, Settings.from_env().database_url)
    except Exception:  # noqa: BLE001 -- the settings themselves are broken: not a db error
        db_error = None
    if db_error is not None:
        _say("error: ", db_error)
        return 1
    if isinstance(err, OSError) and err.filename is not None:
        what = err.strerror or type(err).__name__
        _say("error: ", f"{err.filename}: {what}")
        return 1
    _say("internal error: ", f"{type(err).__name__}: {err} (a bug in kumo; KUMO_DEBUG=1 shows "
                             "the traceback)")
    return EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
