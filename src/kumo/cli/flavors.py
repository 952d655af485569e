"""``kumo flavor ...``: create, list."""

from __future__ import annotations

import click

from kumo.cli.servers import emit_many, emit_one, format_option, parse_pairs, run
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
@click.option("--private", is_flag=True, help="Not public (projects must be given access).")
@format_option
def create(name: str, vcpus: int, ram: int, disk: int, ephemeral: int, props: tuple[str, ...],
           flavorid: str | None, private: bool, fmt: str) -> None:
    """Create a flavor (admin)."""
    specs = parse_pairs(props)
    emit_one(run(lambda env, ctx: service.create_flavor(
        env, ctx, name, vcpus=vcpus, ram_mib=ram, disk_gib=disk, ephemeral_gib=ephemeral,
        extra_specs=specs, flavorid=flavorid, is_public=not private)), fmt, f"flavor {name}")


@flavor.command("list")
@format_option
def list_(fmt: str) -> None:
    """List the flavors you may use."""
    emit_many(run(service.list_flavors), fmt, LIST_COLUMNS, "flavors")
