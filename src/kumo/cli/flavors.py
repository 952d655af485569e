"""``kumo flavor ...``: create, list, show, set, unset, delete.

A server keeps its own copy of its flavor (vCPUs, RAM, disks, extra specs: kumo.db.models
Instance), so -- as in Nova -- a flavor in use may be deleted or have its extra specs changed:
running servers are not touched, and ``kumo flavor delete`` says how many keep their copy.
"""

from __future__ import annotations

import click

from kumo.cli import completion as complete
from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import parse_pairs, run
from kumo.compute import flavors as service

LIST_COLUMNS = ("id", "name", "vcpus", "ram", "disk", "ephemeral", "is_public", "extra_specs")


@click.group("flavor")
def flavor() -> None:
    """Flavors: guest sizes, and extra specs that may override image properties."""


@flavor.command("create")
@click.argument("name")
@click.option("--vcpus", type=int, required=True)
@click.option("--ram", type=int, required=True, help="RAM in MiB.")
@click.option("--disk", type=int, default=0, show_default=True, help="Root disk in GiB "
              "(0: the image's size).")
@click.option("--ephemeral", type=int, default=0, show_default=True, help="GiB.")
@click.option("--property", "props", multiple=True, metavar="KEY=VALUE",
              help="An extra spec, e.g. hw:disk_bus=scsi; repeatable.")
@click.option("--id", "flavorid", default=None, help="API id (default: a uuid).")
@click.option("--public/--private", "public", default=True,
              help="Usable by every project (default), or only by projects given access.")
@click.option("--description", default=None)
@show_options
def create(name: str, vcpus: int, ram: int, disk: int, ephemeral: int, props: tuple[str, ...],
           flavorid: str | None, public: bool, description: str | None, out: Output) -> None:
    """Create a flavor (admin)."""
    specs = parse_pairs(props)
    out.one(run(lambda env, ctx: service.create_flavor(
        env, ctx, name, vcpus=vcpus, ram_mib=ram, disk_gib=disk, ephemeral_gib=ephemeral,
        extra_specs=specs, flavorid=flavorid, is_public=public, description=description)),
        f"flavor {name}")


@flavor.command("list")
@list_options
def list_(out: Output) -> None:
    """List the flavors you may use."""
    out.many(run(service.list_flavors), LIST_COLUMNS, "flavors")


@flavor.command("show")
@click.argument("ref", metavar="FLAVOR", shell_complete=complete.flavors)
@show_options
def show(ref: str, out: Output) -> None:
    """Show a flavor and its extra specs."""
    out.one(run(lambda env, ctx: service.show_flavor(env, ctx, ref)))


@flavor.command("set")
@click.argument("ref", metavar="FLAVOR", shell_complete=complete.flavors)
@click.option("--property", "props", multiple=True, metavar="KEY=VALUE",
              help="Set an extra spec (validated like an image property); repeatable.")
@click.option("--no-property", is_flag=True, help="Remove every extra spec first.")
@click.option("--description", default=None)
@show_options
def set_(ref: str, props: tuple[str, ...], no_property: bool, description: str | None,
         out: Output) -> None:
    """Change a flavor's extra specs or description (admin). Its size cannot change (as in
    Nova): create another flavor. Servers already booted keep their copy."""
    specs = parse_pairs(props)
    out.one(run(lambda env, ctx: service.update_flavor(
        env, ctx, ref, set_specs=specs, clear=no_property, description=description)))


@flavor.command("unset")
@click.argument("ref", metavar="FLAVOR", shell_complete=complete.flavors)
@click.option("--property", "keys", multiple=True, metavar="KEY", required=True,
              help="An extra spec to remove; repeatable.")
@show_options
def unset(ref: str, keys: tuple[str, ...], out: Output) -> None:
    """Remove extra specs from a flavor (admin)."""
    out.one(run(lambda env, ctx: service.update_flavor(env, ctx, ref, unset=keys)))


@flavor.command("delete")
@click.argument("refs", metavar="FLAVOR...", nargs=-1, required=True,
                shell_complete=complete.flavors)
def delete(refs: tuple[str, ...]) -> None:
    """Delete flavors (admin). Servers booted from one keep their own copy of it."""
    def action(env, ctx) -> None:
        for ref in refs:
            flavorid, users = service.delete_flavor(env, ctx, ref)
            kept = f" ({users} server{'s' if users != 1 else ''} keep their copy)" \
                if users else ""
            click.echo(f"deleted flavor {flavorid}{kept}")
    run(action)
