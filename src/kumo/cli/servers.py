"""``kumo server ...``: create, list, show, start, stop, reboot [--hard], rebuild, delete, and
set-property (the audited way to change a server's frozen image properties; a hard reboot then
regenerates its domain).

Every ``kumo server`` command starts the controller the way a long-running one would: it first
runs ``journal.recover`` (finishing or rolling back what a killed command left half-done) and
says on stderr what it recovered. The helpers at the top (env, context, output) are shared by
the host, image and flavor commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click

from kumo.cli.output import table
from kumo.compute import journal, servers
from kumo.compute.context import RequestContext, cli_context
from kumo.compute.env import ComputeEnv
from kumo.errors import InvalidInput

# --- shared by the kumo host/image/flavor/server commands ----------------------------------------

format_option = click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")),
                             default="table", show_default=True, help="Output format.")


def open_env(recover: bool = False) -> tuple[ComputeEnv, RequestContext]:
    """The configured ComputeEnv and the CLI's request context; with ``recover``, first finish
    or roll back what a dead controller left (reported on stderr)."""
    env = ComputeEnv.from_env()
    if recover:
        for r in journal.recover(env):
            click.echo(f"kumo: recovered {r.operation} of server {r.instance_uuid}: "
                       f"{r.outcome}", err=True)
    return env, cli_context()


def run(action: Callable[[ComputeEnv, RequestContext], Any], recover: bool = False) -> Any:
    env, ctx = open_env(recover)
    try:
        return action(env, ctx)
    finally:
        env.close()


def parse_pairs(items: Iterable[str], what: str = "--property") -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"{what} {item!r} is invalid: allowed KEY=VALUE")
        out[key.strip()] = value
    return out


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], dict):
        return "\n".join(" ".join(str(v) for v in item.values()) for item in value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def emit_one(view: dict[str, Any], fmt: str, title: str | None = None) -> None:
    if fmt == "json":
        click.echo(json.dumps(view, indent=2, default=str))
    else:
        table(title, ("field", "value"), ((k, _cell(v)) for k, v in view.items()))


def emit_many(views: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str],
              title: str | None = None) -> None:
    if fmt == "json":
        click.echo(json.dumps(list(views), indent=2, default=str))
    else:
        table(title, columns, ([_cell(v.get(c)) for c in columns] for v in views))


# --- kumo server ---------------------------------------------------------------------------------

LIST_COLUMNS = ("id", "name", "status", "task_state", "power_state", "host", "flavor", "image")


@click.group("server")
def server() -> None:
    """Servers (instances) on kumo's hosts."""


@server.command("create")
@click.argument("name")
@click.option("--image", required=True, help="Image name or id.")
@click.option("--flavor", required=True, help="Flavor name or id.")
@click.option("--host", default=None, help="Exact name of the host to boot on.")
@click.option("--key-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="OpenSSH public key for a Linux guest (never given to Windows, seed 003).")
@format_option
def create(name: str, image: str, flavor: str, host: str | None, key_file: str | None,
           fmt: str) -> None:
    """Create and boot a server; waits until it is ACTIVE (or ERROR)."""
    key = Path(key_file).read_text().strip() if key_file else None
    key_name = Path(key_file).stem if key_file else None
    result = run(lambda env, ctx: servers.create_server(
        env, ctx, name, image=image, flavor=flavor, host=host, public_key=key,
        key_name=key_name), recover=True)
    view = dict(result.server)
    if result.admin_password:
        view["admin_password"] = result.admin_password
    emit_one(view, fmt, f"server {name}")
    if result.admin_password and fmt == "table":
        click.echo("the admin password is shown once: kumo keeps only its hash", err=True)


@server.command("list")
@click.option("--all-projects", is_flag=True, help="Every project's servers (admin).")
@format_option
def list_(all_projects: bool, fmt: str) -> None:
    """List servers."""
    views = run(lambda env, ctx: servers.list_servers(env, ctx, all_projects), recover=True)
    emit_many(views, fmt, LIST_COLUMNS, "servers")


@server.command("show")
@click.argument("server_ref", metavar="SERVER")
@format_option
def show(server_ref: str, fmt: str) -> None:
    """Show a server, its fault and its frozen image properties."""
    emit_one(run(lambda env, ctx: servers.show_server(env, ctx, server_ref), recover=True), fmt)


def _action(name: str, doc: str, call: Callable[..., Any]) -> None:
    @server.command(name, help=doc)
    @click.argument("server_ref", metavar="SERVER")
    @format_option
    def command(server_ref: str, fmt: str) -> None:
        emit_one(run(lambda env, ctx: call(env, ctx, server_ref), recover=True), fmt)


_action("start", "Start a stopped server.", servers.start_server)
_action("stop", "Stop a server: graceful shutdown, then power off if it does not stop in time.",
        servers.stop_server)


@server.command("reboot")
@click.argument("server_ref", metavar="SERVER")
@click.option("--hard", is_flag=True,
              help="Power-cycle and regenerate the domain from the server's record.")
@format_option
def reboot(server_ref: str, hard: bool, fmt: str) -> None:
    """Reboot a server (soft by default)."""
    emit_one(run(lambda env, ctx: servers.reboot_server(env, ctx, server_ref, hard),
                 recover=True), fmt)


@server.command("rebuild")
@click.argument("server_ref", metavar="SERVER")
@click.option("--image", default=None, help="New image (default: the server's own).")
@format_option
def rebuild(server_ref: str, image: str | None, fmt: str) -> None:
    """Re-make the server's root disk from its (or another) image and boot it."""
    result = run(lambda env, ctx: servers.rebuild_server(env, ctx, server_ref, image),
                 recover=True)
    view = dict(result.server)
    if result.admin_password:
        view["admin_password"] = result.admin_password
    emit_one(view, fmt)


@server.command("delete")
@click.argument("server_refs", metavar="SERVER...", nargs=-1, required=True)
def delete(server_refs: tuple[str, ...]) -> None:
    """Delete servers: domain (and NVRAM) undefined, volumes deleted, claim released."""
    def action(env: ComputeEnv, ctx: RequestContext) -> None:
        for ref in server_refs:
            click.echo(f"deleted server {servers.delete_server(env, ctx, ref)}")
    run(action, recover=True)


@server.command("set-property")
@click.argument("server_ref", metavar="SERVER")
@click.argument("pairs", metavar="KEY=VALUE...", nargs=-1)
@click.option("--unset", "unset", multiple=True, metavar="KEY", help="Remove a property.")
@format_option
def set_property(server_ref: str, pairs: tuple[str, ...], unset: tuple[str, ...],
                 fmt: str) -> None:
    """Change a server's frozen image properties (validated, journaled). Takes effect at the
    next `kumo server reboot --hard`."""
    changes = parse_pairs(pairs, "KEY=VALUE")
    view = run(lambda env, ctx: servers.set_property(env, ctx, server_ref, changes, unset),
               recover=True)
    emit_one(view, fmt)
    if fmt == "table":
        click.echo("takes effect at the next hard reboot: kumo server reboot --hard "
                   f"{server_ref}", err=True)
