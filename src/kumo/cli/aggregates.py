"""``kumo aggregate ...``: host aggregates, the groups whose metadata the scheduler reads
(allocation ratios, weigher multipliers, image isolation pins, a zone) -- the functions the
Compute API's os-aggregates calls (kumo.compute.aggregates)."""

from __future__ import annotations

import click

from kumo.cli import completion as complete
from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import parse_pairs, run
from kumo.compute import aggregates as service
from kumo.errors import InvalidInput

LIST_COLUMNS = ("id", "name", "availability_zone", "hosts", "metadata")


@click.group("aggregate")
def aggregate() -> None:
    """Host aggregates: groups of hosts with metadata the scheduler reads."""


@aggregate.command("create")
@click.argument("name")
@click.option("--zone", "zone", default=None, help="The aggregate's availability zone.")
@show_options
def create(name: str, zone: str | None, out: Output) -> None:
    out.one(run(lambda env, ctx: service.create_aggregate(env, ctx, name, zone)),
            f"aggregate {name}")


@aggregate.command("list")
@list_options
def list_(out: Output) -> None:
    out.many(run(service.list_aggregates), LIST_COLUMNS, "aggregates")


@aggregate.command("show")
@click.argument("ref")
@show_options
def show(ref: str, out: Output) -> None:
    """Show an aggregate (its id, uuid or exact name)."""
    out.one(run(lambda env, ctx: service.show_aggregate(env, ctx, ref)), f"aggregate {ref}")


@aggregate.command("set")
@click.argument("ref")
@click.option("--name", default=None, help="New name.")
@click.option("--zone", default=None, help="New availability zone ('' for none).")
@click.option("--property", "props", multiple=True, metavar="KEY=VALUE",
              help="Set metadata; repeatable (checked whole before any is stored).")
@click.option("--unset", "unset", multiple=True, metavar="KEY", help="Remove metadata.")
@show_options
def set_(ref: str, name: str | None, zone: str | None, props: tuple[str, ...],
         unset: tuple[str, ...], out: Output) -> None:
    metadata: dict[str, str | None] = {key: None for key in unset}
    metadata.update(parse_pairs(props))
    if name is None and zone is None and not metadata:
        raise InvalidInput("nothing to change: give --name, --zone, --property or --unset")

    def action(env, ctx):
        view = None
        if name is not None or zone is not None:
            view = service.update_aggregate(env, ctx, ref, name=name, availability_zone=zone)
        if metadata:
            view = service.set_metadata(env, ctx, name or ref, metadata)
        return view
    out.one(run(action), f"aggregate {ref}")


@aggregate.command("add-host")
@click.argument("ref")
@click.argument("host", shell_complete=complete.hosts)
@show_options
def add_host(ref: str, host: str, out: Output) -> None:
    """Add the host named exactly HOST."""
    out.one(run(lambda env, ctx: service.add_host(env, ctx, ref, host)), f"aggregate {ref}")


@aggregate.command("remove-host")
@click.argument("ref")
@click.argument("host", shell_complete=complete.hosts)
@show_options
def remove_host(ref: str, host: str, out: Output) -> None:
    out.one(run(lambda env, ctx: service.remove_host(env, ctx, ref, host)), f"aggregate {ref}")


@aggregate.command("delete")
@click.argument("ref")
def delete(ref: str) -> None:
    """Delete an aggregate that has no hosts."""
    run(lambda env, ctx: service.delete_aggregate(env, ctx, ref))
