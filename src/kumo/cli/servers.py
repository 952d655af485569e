"""``kumo server ...``: create, list, show, start, stop, reboot [--hard], rebuild, delete, and
set-property (the audited way to change a server's frozen image properties; a hard reboot then
regenerates its domain).

Every ``kumo server`` command starts the controller the way a long-running one would: it first
runs ``journal.recover`` (finishing or rolling back what a killed command left half-done) and
says on stderr what it recovered. The helpers at the top (env, context, output) are shared by
the host, image and flavor commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from kumo import logs

from kumo.cli import completion as complete
from kumo.cli.output import Output, list_options, show_options
from kumo.compute import journal, servers
from kumo.compute.context import RequestContext, cli_context
from kumo.compute.env import ComputeEnv
from kumo.compute.keys import MAX_KEY_BYTES
from kumo.compute.user_data import (MAX_USER_DATA_BYTES, METADATA_MAX_ITEMS,
                                    user_data_from_bytes)
from kumo.config import Settings
from kumo.db.engine import database_url as engine_url
from kumo.db.failures import shown
from kumo.errors import DatabaseUnusable, InvalidInput
from kumo.files import read_bytes, read_text

# --- shared by the kumo host/image/flavor/server commands ----------------------------------------

def open_env(recover: bool = False, recover_store: bool = False
             ) -> tuple[ComputeEnv, RequestContext]:
    """The configured ComputeEnv and the CLI's request context; with ``recover``, first finish
    or roll back what a dead controller left (reported on stderr); with ``recover_store`` (or
    ``recover``), the image creates and deletes a killed command left in the image store."""
    _check_initialised(Settings.from_env().database_url)
    env = ComputeEnv.from_env()
    logs.apply_settings(env.settings)
    if recover or recover_store:
        from kumo.compute.images import recover_store as recover_images

        from kumo.compute.image_data import recover_staging

        for e in recover_images(env):
            click.echo(f"kumo: recovered image store file {e.name}: {e.outcome}", err=True)
        for st in recover_staging(env):
            click.echo(f"kumo: recovered staged data of image {st.image_id}: {st.outcome}",
                       err=True)
    if recover:
        for r in journal.recover(env):
            of = f" of server {r.instance_uuid}" if r.instance_uuid else ""
            click.echo(f"kumo: recovered {r.operation}{of}: {r.outcome}", err=True)
    return env, cli_context()


def _check_initialised(database_url: str) -> None:
    """A SQLite database file that does not exist is not created by asking (kumo db upgrade
    creates it); other failures are translated where they happen (kumo.db.failures)."""
    url = engine_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and not url.database.startswith(
            "file:") and url.database != ":memory:" and not Path(url.database).exists():
        raise DatabaseUnusable(f"database {shown(url)} is not initialised: run "
                               "`kumo db upgrade`")


def run(action: Callable[[ComputeEnv, RequestContext], Any], recover: bool = False,
        recover_store: bool = False) -> Any:
    env, ctx = open_env(recover, recover_store)
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


# --- kumo server ---------------------------------------------------------------------------------

LIST_COLUMNS = ("id", "name", "status", "task_state", "power_state", "networks", "host", "flavor",
                "image")
EVENT_COLUMNS = ("request_id", "action", "state", "step", "start_time", "error")


@click.group("server")
def server() -> None:
    """Servers (instances) on kumo's hosts."""


def _password_kept(view: dict[str, Any]) -> str:
    """What kumo keeps of an admin password it has just shown. A Windows server takes only an
    RSA key pair (kumo.guest.policy.credentials), which gets the password encrypted for its
    holder and is never installed in the guest."""
    key = view.get("key_name")
    if not key:
        return "the admin password is shown once: kumo keeps only its hash"
    return (f"the admin password is shown once: kumo keeps its hash, and a copy encrypted for "
            f"key pair {key!r} that only its private half opens (kumo server get-password "
            f"{view.get('name')} --private-key FILE); the key pair is not installed in the "
            "Windows guest")


def _with_password(result: Any) -> dict[str, Any]:
    view = dict(result.server)
    if result.admin_password:
        view["admin_password"] = result.admin_password
    return view


wait_option = click.option(
    "--wait/--no-wait", default=True, show_default=True,
    help="Wait until the operation is done, or return at once while a detached process "
         "finishes it (followed with `kumo server show` / `kumo server event list`).")


@server.command("create")
@click.argument("name")
@click.option("--image", required=True, help="Image name or id.",
              shell_complete=complete.images)
@click.option("--flavor", required=True, help="Flavor name or id.",
              shell_complete=complete.flavors)
@click.option("--host", default=None, help="Exact name of the host to boot on.",
              shell_complete=complete.hosts)
@click.option("--key-name", default=None, metavar="KEYPAIR", shell_complete=complete.keypairs,
              help="Your key pair (kumo keypair ...) for a Linux guest: its public key goes "
                   "on the config drive. Refused for Windows guests, which get a generated "
                   "admin password instead.")
@click.option("--key-file", default=None, metavar="FILE",
              help="An OpenSSH public key file instead of a key pair (same rules).")
@click.option("--user-data", "user_data_file", default=None, metavar="FILE",
              help=f"User data for cloud-init/cloudbase-init (at most {MAX_USER_DATA_BYTES} "
                   "bytes), on the config drive as openstack/latest/user_data.")
@click.option("--metadata", "metadata", multiple=True, metavar="KEY=VALUE",
              help=f"Server metadata (the config drive's meta; at most {METADATA_MAX_ITEMS} "
                   "items, keys and values up to 255 characters); repeatable.")
@click.option("--network", "network_opts", multiple=True, metavar="NAME[,v4-fixed-ip=IP]",
              help="A NIC on this network (name or id), optionally at a fixed address; "
                   "repeatable, in NIC order. Default: the one network you can use (refused "
                   "when there are several); with no networks, QEMU's user-mode NIC.")
@click.option("--nic", "nic", type=click.Choice(["none"]), default=None,
              help="--nic none: no NIC at all.")
@click.option("--security-group", "groups", multiple=True, metavar="GROUP",
              help="Security group of its ports (name or id; repeatable; default: default).")
@wait_option
@show_options
def create(name: str, image: str, flavor: str, host: str | None, key_name: str | None,
           key_file: str | None, user_data_file: str | None, metadata: tuple[str, ...],
           network_opts: tuple[str, ...], nic: str | None, groups: tuple[str, ...], wait: bool,
           out: Output) -> None:
    """Create and boot a server; waits until it is ACTIVE (or ERROR) unless --no-wait."""
    from kumo.compute.networks import NO_NICS, parse_nic_option

    if key_name is not None and key_file is not None:
        raise InvalidInput("--key-name and --key-file both given: allowed one key")
    key = read_text(key_file, "--key-file", MAX_KEY_BYTES) if key_file else None
    key_name = Path(key_file).stem if key_file else key_name
    if nic and network_opts:
        raise InvalidInput("--nic none and --network exclude each other: a server with no NIC "
                           "has no network")
    networks: Any = NO_NICS if nic else [parse_nic_option(t) for t in network_opts] or None
    user_data = (user_data_from_bytes(read_bytes(user_data_file, "--user-data",
                                                 MAX_USER_DATA_BYTES))
                 if user_data_file is not None else None)
    extras = dict(public_key=key, key_name=key_name, user_data=user_data,
                  metadata=parse_pairs(metadata, "--metadata"), networks=networks,
                  security_groups=groups)

    def action(env: ComputeEnv, ctx: RequestContext) -> Any:
        if wait:
            return _waited(f"creating {name}", lambda: servers.create_server(
                env, ctx, name, image=image, flavor=flavor, host=host, **extras))
        from kumo.compute import background
        instance, host_name = servers.new_instance(env, ctx, name, image=image, flavor=flavor,
                                                   host=host, **extras)
        entry_id = servers.schedule_and_record(env, ctx, instance, host=host_name)
        if background.shows_password(env, instance.uuid):
            click.echo("kumo: waiting for the build: a Windows server's admin password is "
                       "shown once, by the command that builds it", err=True)
        elif _handed_over(env, entry_id):
            return servers.CreateResult(servers.show_server(env, ctx, instance.uuid))
        # the finisher's build, here: the alternates, a delete queued meanwhile
        password = _waited(f"creating {name}", lambda: background.carry_out(env, entry_id))
        return servers.CreateResult(servers.show_server(env, ctx, instance.uuid), password)

    result = run(action, recover=True)
    out.one(_with_password(result), f"server {name}")
    if result.admin_password and out.is_table:
        click.echo(_password_kept(result.server), err=True)


def _handed_over(env: ComputeEnv, entry_id: int) -> bool:
    """Leave the operation to a detached finisher (kumo.compute.background); False, with the
    reason on stderr, when it could not take over (this process then finishes it)."""
    from kumo.compute import background
    from kumo.errors import KumoError
    try:
        background.hand_over(env, entry_id)
        return True
    except KumoError as e:
        click.echo(f"kumo: {e}: waiting instead", err=True)
        return False


def _no_wait(env: ComputeEnv, ctx: RequestContext, ref: str, operation: str,
             **payload: Any) -> dict[str, Any] | None:
    """Begin ``operation`` and leave it to a finisher; the server's view (busy), or None when
    the finisher could not take over and the caller must wait."""
    entry_id, uuid = servers.begin_operation(env, ctx, ref, operation, **payload)
    if _handed_over(env, entry_id):
        return servers.show_server(env, ctx, uuid)
    from kumo.compute import background
    _waited(f"{operation} {ref}", lambda: background.carry_out(env, entry_id))
    return servers.show_server(env, ctx, uuid)


@server.command("list")
@click.option("--all-projects", is_flag=True, help="Every project's servers (admin).")
@list_options
def list_(all_projects: bool, out: Output) -> None:
    """List servers (the image column shows the image's name, -c image_id its id)."""
    views = run(lambda env, ctx: servers.list_servers(env, ctx, all_projects), recover=True)
    rows = []
    for v in views:  # as openstackclient: the image's name ('' once it is deleted), id apart
        name = v.pop("image_name")
        rows.append({**v, "image": name or "", "image_id": v["image"],
                     "networks": networks_text(v.get("addresses") or {})})
    out.many(rows, LIST_COLUMNS, "servers")


def networks_text(addresses: dict[str, list[str]]) -> str:
    """openstackclient's Networks column: ``net1=10.0.0.5; net2=10.1.0.7, 10.1.0.8``."""
    return "; ".join(f"{net}={', '.join(ips)}" for net, ips in addresses.items())


@server.command("show")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@show_options
def show(server_ref: str, out: Output) -> None:
    """Show a server, its fault and its frozen image properties."""
    out.one(run(lambda env, ctx: servers.show_server(env, ctx, server_ref), recover=True))


def _action(name: str, doc: str, call: Callable[..., Any]) -> None:
    @server.command(name, help=doc)
    @click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
    @show_options
    def command(server_ref: str, out: Output) -> None:
        out.one(run(lambda env, ctx: call(env, ctx, server_ref), recover=True))


_action("start", "Start a stopped server.", servers.start_server)


def _waited(what: str, call: Callable[[], Any]) -> Any:
    """``call()`` with a spinner and the elapsed time on a terminal (kumo.cli.progress)."""
    from kumo.cli.progress import waiting
    with waiting(what):
        return call()


def _say_notes(env: ComputeEnv, ctx: RequestContext, server_ref: str) -> None:
    """What the last action recorded that the user would not otherwise see (a soft reboot
    that became a hard one, a guest powered off after the shutdown timeout): from the
    journal, on stderr."""
    from kumo.compute import events
    latest = events.list_events(env, ctx, server_ref)[:1]
    note = latest[0]["details"].get("note") if latest else None
    if note:
        click.echo(f"kumo: {note}", err=True)


timeout_option = click.option(
    "--timeout", "timeout_s", type=float, default=None, metavar="SECONDS",
    help="Graceful-shutdown time before the guest is powered off (default: the image's "
         "os_shutdown_timeout, the flavor's os:shutdown_timeout, else 60).")


@server.command("stop")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@timeout_option
@wait_option
@show_options
def stop(server_ref: str, timeout_s: float | None, wait: bool, out: Output) -> None:
    """Stop a server: graceful shutdown, then power off if it does not stop in time."""
    def action(env: ComputeEnv, ctx: RequestContext) -> Any:
        if not wait:
            return _no_wait(env, ctx, server_ref, "stop", timeout_override=timeout_s)
        view = _waited(f"stopping {server_ref}",
                       lambda: servers.stop_server(env, ctx, server_ref, timeout_s))
        _say_notes(env, ctx, view["id"])
        return view
    out.one(run(action, recover=True))


@server.command("reboot")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.option("--hard", is_flag=True,
              help="Power-cycle and regenerate the domain from the server's record.")
@timeout_option
@wait_option
@show_options
def reboot(server_ref: str, hard: bool, timeout_s: float | None, wait: bool,
           out: Output) -> None:
    """Reboot a server (soft by default; a guest that does not shut down in time gets a hard
    reboot, and kumo says so)."""
    def action(env: ComputeEnv, ctx: RequestContext) -> Any:
        if not wait:
            return _no_wait(env, ctx, server_ref, "reboot-hard" if hard else "reboot",
                            timeout_override=timeout_s)
        view = _waited(f"rebooting {server_ref}", lambda: servers.reboot_server(
            env, ctx, server_ref, hard, timeout_s))
        _say_notes(env, ctx, view["id"])
        return view
    out.one(run(action, recover=True))


@server.command("rebuild")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.option("--image", default=None, help="New image (default: the server's own).",
              shell_complete=complete.images)
@show_options
def rebuild(server_ref: str, image: str | None, out: Output) -> None:
    """Re-make the server's root disk from its (or another) image and boot it."""
    out.one(_with_password(run(lambda env, ctx: servers.rebuild_server(
        env, ctx, server_ref, image), recover=True)))


@server.command("set-password")
@click.argument("server_ref", metavar="SERVER")
@click.option("--password-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Read the new password from this file (first line); default: generate one "
                   "and show it once.")
@show_options
def set_password(server_ref: str, password_file: str | None, out: Output) -> None:
    """Reset the admin password: through the QEMU guest agent when the guest has one
    (hw_qemu_guest_agent), else written to the config drive at the next rebuild."""
    from kumo.compute import passwords

    password = None
    if password_file:
        text = Path(password_file).read_text(encoding="utf-8", errors="strict")
        password = text.splitlines()[0] if text else ""
    result = run(lambda env, ctx: passwords.set_password(env, ctx, server_ref, password),
                 recover=True)
    out.one(_with_password(result), f"server {server_ref}")
    click.echo(result.message, err=True)
    if result.admin_password and out.is_table:
        click.echo(_password_kept(result.server), err=True)


@server.command("get-password")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.option("--private-key", "private_key", default=None, metavar="FILE",
              help="The key pair's private half: show the password decrypted with it. "
                   "Without it the password is shown encrypted (base64), as nova get-password "
                   "does.")
def get_password(server_ref: str, private_key: str | None) -> None:
    """Show a Windows server's admin password kept encrypted for its RSA key pair (Nova's
    os-server-password; the key pair is never installed in a Windows guest)."""
    from kumo.compute import passwords
    from kumo.errors import StateError
    from kumo.files import read_bytes

    key = read_bytes(private_key, "--private-key", 1 << 20) if private_key else None
    sealed = run(lambda env, ctx: passwords.encrypted_password(env, ctx, server_ref))
    if not sealed:
        raise StateError(
            f"server {server_ref!r} has no admin password kept for a key pair: only a Windows "
            "server created with an RSA key pair has one (and kumo server clear-password "
            "forgets it); without one, the password was shown once by the command that made "
            "it (reset it with kumo server set-password)")
    click.echo(passwords.open_for_key(sealed, key, private_key) if key else sealed)


@server.command("clear-password")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
def clear_password(server_ref: str) -> None:
    """Forget the encrypted admin password kumo keeps for the key pair's holder (the guest's
    password is not changed), as nova clear-password does."""
    from kumo.compute import passwords

    run(lambda env, ctx: passwords.clear_encrypted_password(env, ctx, server_ref))


@server.command("delete")
@click.argument("server_refs", metavar="SERVER...", nargs=-1, required=True,
                shell_complete=complete.servers)
@wait_option
def delete(server_refs: tuple[str, ...], wait: bool) -> None:
    """Delete servers: domain (and NVRAM) undefined, volumes deleted, claim released."""
    def action(env: ComputeEnv, ctx: RequestContext) -> None:
        for ref in server_refs:
            if not wait:
                view = _no_wait(env, ctx, ref, "delete")
                click.echo(f"deleting server {view['id']}")
                continue
            uuid = _waited(f"deleting {ref}", lambda: servers.delete_server(env, ctx, ref))
            click.echo(f"deleted server {uuid}")
    run(action, recover=True)


@server.command("set-property")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.argument("pairs", metavar="KEY=VALUE...", nargs=-1)
@click.option("--unset", "unset", multiple=True, metavar="KEY", help="Remove a property.")
@show_options
def set_property(server_ref: str, pairs: tuple[str, ...], unset: tuple[str, ...],
                 out: Output) -> None:
    """Change a server's frozen image properties (validated, journaled). Takes effect at the
    next `kumo server reboot --hard`."""
    changes = parse_pairs(pairs, "KEY=VALUE")
    view = run(lambda env, ctx: servers.set_property(env, ctx, server_ref, changes, unset),
               recover=True)
    out.one(view)
    if out.is_table:
        click.echo("takes effect at the next hard reboot: kumo server reboot --hard "
                   f"{server_ref}", err=True)


@server.group("console")
def console() -> None:
    """A server's consoles: its serial console log, its VNC display."""


@console.command("log")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.option("--lines", type=int, default=None, metavar="N",
              help="Only the last N lines (default: all that is kept, up to 2 MiB).")
def console_log(server_ref: str, lines: int | None) -> None:
    """Show the guest's serial console output (ttyS0, logged on its host; `virsh console`
    attaches to the same port). Control characters are shown escaped (\\x1b)."""
    from kumo.compute import consoles
    from kumo.cli.output import escape

    text = run(lambda env, ctx: consoles.console_log(env, ctx, server_ref, lines))
    for line in text.replace("\r\n", "\n").split("\n")[:-1 if text.endswith("\n") else None]:
        click.echo(escape(line))


@console.command("url")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.option("--password", "show_password", is_flag=True,
              help="Also show the display's password (kept for the server's life).")
@show_options
def console_url(server_ref: str, show_password: bool, out: Output) -> None:
    """Show where the running guest's VNC display answers (vnc://ADDRESS:PORT on its host)."""
    from kumo.compute import consoles

    d = run(lambda env, ctx: consoles.display(env, ctx, server_ref))
    view = {"url": d.url, "host": d.host, "address": d.address, "port": d.port}
    if show_password:
        view["password"] = d.password
    if out.is_table:
        click.echo(d.url)
        if show_password:
            click.echo(f"password: {d.password}")
    else:
        out.one(view)
    if not d.reachable_here:
        click.echo(f"the display listens on {d.address} of host {d.host}: reach it through a "
                   f"tunnel from that host (e.g. ssh -L {d.port}:{d.address}:{d.port} HOST)",
                   err=True)
    elif not show_password:
        click.echo("the display asks for a password: kumo server console url --password "
                   f"{server_ref}", err=True)


@server.group("event")
def event() -> None:
    """What was done to a server, by which request (from kumo's journal)."""


@event.command("list")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@list_options
def event_list(server_ref: str, out: Output) -> None:
    """List a server's actions, newest first, with their request ids."""
    from kumo.compute import events
    out.many(run(lambda env, ctx: events.list_events(env, ctx, server_ref)), EVENT_COLUMNS,
             f"events of server {server_ref}")


@event.command("show")
@click.argument("server_ref", metavar="SERVER", shell_complete=complete.servers)
@click.argument("request_id", metavar="REQUEST_ID")
@show_options
def event_show(server_ref: str, request_id: str, out: Output) -> None:
    """Show one action of a server: its steps' outcome and what it recorded."""
    from kumo.compute import events
    out.one(run(lambda env, ctx: events.show_event(env, ctx, server_ref, request_id)))


@server.command("_finish", hidden=True)
@click.argument("entry_id", type=int)
@click.argument("owner")
def finish(entry_id: int, owner: str) -> None:
    """(internal) Carry out a --no-wait operation that the process ``owner`` journaled."""
    from kumo.compute import background
    # no recovery first: the entry is the caller's (alive) until this process takes it over
    run(lambda env, ctx: background.finish(env, entry_id, owner))


# the move commands (migrate, migration, resize) register themselves on ``server``
from kumo.cli import server_moves as _server_moves  # noqa: E402,F401
