"""``kumo server migrate|migration|resize``: cold migration and resize, then confirm or revert
(kumo.compute.moves), named as python-openstackclient names them:

    kumo server migrate SERVER [--host H]           openstack server migrate [--host H] SERVER
    kumo server resize SERVER FLAVOR                openstack server resize --flavor F SERVER
    kumo server migration confirm|revert SERVER     openstack server migration confirm|revert
    kumo server migrate confirm|revert SERVER       (openstackclient's older spelling)
    kumo server resize confirm|revert SERVER        openstack server resize confirm|revert
    kumo server resize SERVER --confirm|--revert    (its deprecated flags)
    kumo server migration list SERVER               the server's moves
"""

from __future__ import annotations

from typing import Any

import click

from kumo.cli import completion as complete
from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import _handed_over, _waited, run, server, wait_option
from kumo.errors import InvalidInput

MOVE_COLUMNS = ("id", "type", "status", "source", "dest", "old_flavor", "new_flavor", "created",
                "error")


class _ServerOrVerb(click.Group):
    """A group whose first word is either one of its verbs (confirm, revert, ...) or, when it
    is not, the server of its own action (``migrate SERVER``, as openstackclient's
    ``server migrate SERVER`` next to ``server migrate confirm SERVER``)."""

    default = "_move"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


def _decision_commands(group: click.Group, what: str) -> None:
    from kumo.compute import moves

    @group.command("confirm")
    @click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
    @show_options
    def confirm(server_ref: str, out: Output) -> None:
        out.one(run(lambda env, ctx: _waited(f"confirming {server_ref}", lambda: (
            moves.confirm_server(env, ctx, server_ref))), recover=True))

    @group.command("revert")
    @click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
    @show_options
    def revert(server_ref: str, out: Output) -> None:
        """Revert: the new copy is removed, the server runs again where it was, as it was."""
        out.one(run(lambda env, ctx: _waited(f"reverting {server_ref}", lambda: (
            moves.revert_server(env, ctx, server_ref))), recover=True))

    confirm.help = (f"Confirm the {what} (VERIFY_RESIZE): the old copy on the source host is "
                    "removed and its resources freed; ACTIVE (or SHUTOFF).")


tpm_option = click.option(
    "--accept-new-tpm", is_flag=True,
    help="Move a server with a vTPM too: it boots with a new, empty TPM (secrets sealed to the "
         "old one are lost).")


@server.group("migrate", cls=_ServerOrVerb)
def migrate() -> None:
    """Cold-migrate a server to another host: `kumo server migrate SERVER [--host HOST]`.

    The guest is shut down, its disks copied to the host the scheduler chooses under the
    server's own constraints (or HOST, an exact name, still checked by the scheduler), and
    started there; the server is then VERIFY_RESIZE until `kumo server migrate confirm SERVER`
    (the old copy removed) or `... revert SERVER` (back where it was). Admin only."""


@migrate.command("_move", hidden=True)
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.option("--host", default=None, shell_complete=complete.hosts,
              help="Exact name of the target host (the scheduler's filters still apply).")
@tpm_option
@wait_option
@show_options
def migrate_move(server_ref: str, host: str | None, accept_new_tpm: bool, wait: bool,
                 out: Output) -> None:
    out.one(run(lambda env, ctx: _move(env, ctx, f"migrating {server_ref}", wait,
                                       server_ref, host=host, accept_new_tpm=accept_new_tpm),
                recover=True))


def _move(env: Any, ctx: Any, what: str, wait: bool, server_ref: str, **how: Any) -> Any:
    """Begin the move (checks, claim, journal) and carry it out -- here, or with ``--no-wait``
    in a detached finisher (kumo.compute.background), returning the server busy (RESIZE)."""
    from kumo.compute import moves, servers

    started = moves.start(env, ctx, server_ref, **how)
    if wait or not _handed_over(env, started.entry_id):
        _waited(what, lambda: moves.run(env, started))
    return servers.show_server(env, ctx, started.uuid)


_decision_commands(migrate, "migration")


@server.group("migration")
def migration() -> None:
    """A server's cold migrations and resizes: list, confirm, revert."""


_decision_commands(migration, "migration")


@migration.command("list")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@list_options
def migration_list(server_ref: str, out: Output) -> None:
    """The server's migrations and resizes, newest first."""
    from kumo.compute import moves

    out.many(run(lambda env, ctx: moves.move_views(env, ctx, server_ref)), MOVE_COLUMNS,
             f"migrations of server {server_ref}")


@server.group("resize", cls=_ServerOrVerb)
def resize() -> None:
    """Resize a server to another flavor: `kumo server resize SERVER FLAVOR`.

    Cold, on another host the scheduler finds room on (never the same host, as Nova's default
    allow_resize_to_same_host=False); root and ephemeral disks grow, never shrink. The server is
    then VERIFY_RESIZE until `kumo server resize confirm SERVER` or `... revert SERVER`.

    Options of `resize SERVER` (see `kumo server resize SERVER --help`): --flavor FLAVOR (the
    same as FLAVOR), --confirm / --revert (openstackclient's older flags), --accept-new-tpm,
    --no-wait, and the output options -f/-c."""


@resize.command("_move", hidden=True)
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.argument("flavor_arg", metavar="[FLAVOR]", required=False,
                shell_complete=complete.flavors)
@click.option("--flavor", default=None, shell_complete=complete.flavors,
              help="The new flavor (name or id), as openstackclient's --flavor.")
@click.option("--confirm", "decide", flag_value="confirm",
              help="Confirm a resize waiting in VERIFY_RESIZE (as `resize confirm`).")
@click.option("--revert", "decide", flag_value="revert",
              help="Revert a resize waiting in VERIFY_RESIZE (as `resize revert`).")
@tpm_option
@wait_option
@show_options
def resize_move(server_ref: str, flavor_arg: str | None, flavor: str | None,
                decide: str | None, accept_new_tpm: bool, wait: bool, out: Output) -> None:
    from kumo.compute import moves

    chosen = flavor_arg or flavor
    if flavor_arg and flavor and flavor_arg != flavor:
        raise InvalidInput(f"two flavors given ({flavor_arg!r} and --flavor {flavor!r}): "
                           "allowed one")
    if (chosen is None) == (decide is None):
        raise InvalidInput("give exactly one of FLAVOR (or --flavor) to resize, --confirm and "
                           "--revert")

    def action(env: Any, ctx: Any) -> Any:
        if decide == "confirm":
            return moves.confirm_server(env, ctx, server_ref)
        if decide == "revert":
            return moves.revert_server(env, ctx, server_ref)
        return _move(env, ctx, f"resizing {server_ref}", wait, server_ref, flavor=chosen,
                     accept_new_tpm=accept_new_tpm)
    out.one(run(action, recover=True))


_decision_commands(resize, "resize")
