"""``kumo host ...``: add, refresh, list, show, enable, disable, orphans."""

from __future__ import annotations

from dataclasses import asdict

import click

from kumo.cli.servers import emit_many, emit_one, format_option, run
from kumo.compute import hosts as service

LIST_COLUMNS = ("name", "uri", "hypervisor_type", "virt_type", "enabled", "vcpus", "vcpus_used",
                "ram", "ram_used", "disk", "disk_used", "instances")


@click.group("host")
def host() -> None:
    """Hypervisor hosts (exact names only: seed 002)."""


@host.command("add")
@click.argument("name")
@click.option("--uri", required=True, help="libvirt URI (qemu:///system, qemu+ssh://host/system, "
                                           "xen+ssh://..., test:///default).")
@click.option("--virt-type", type=click.Choice(("kvm", "qemu")), default=None,
              help="Override the domain type (qemu = TCG, when KVM is unusable).")
@click.option("--availability-zone", default=None)
@format_option
def add(name: str, uri: str, virt_type: str | None, availability_zone: str | None,
        fmt: str) -> None:
    """Add a host: its capacity and capabilities are read from libvirt now."""
    emit_one(run(lambda env, ctx: service.add_host(
        env, ctx, name, uri, virt_type=virt_type, availability_zone=availability_zone)), fmt,
        f"host {name}")


@host.command("refresh")
@click.argument("name")
@format_option
def refresh(name: str, fmt: str) -> None:
    """Probe the host again and store its capabilities (after upgrading QEMU, OVMF, swtpm)."""
    emit_one(run(lambda env, ctx: service.refresh_host(env, ctx, name)), fmt, f"host {name}")


@host.command("list")
@format_option
def list_(fmt: str) -> None:
    """List hosts with their capacity and usage."""
    emit_many(run(service.list_hosts), fmt, LIST_COLUMNS, "hosts")


@host.command("show")
@click.argument("name")
@format_option
def show(name: str, fmt: str) -> None:
    """Show a host, its usage and the orphans found on it."""
    emit_one(run(lambda env, ctx: service.show_host(env, ctx, name)), fmt, f"host {name}")


@host.command("orphans")
@click.argument("name")
@format_option
def orphans(name: str, fmt: str) -> None:
    """Domains and volumes named as kumo's with no instance behind them (never deleted)."""
    found = [asdict(o) for o in run(lambda env, ctx: service.find_orphans(env, ctx, name))]
    if fmt == "table" and not found:
        click.echo(f"no orphans on host {name}")
        return
    emit_many(found, fmt, ("kind", "name", "reason"), f"orphans on {name}")


@host.command("enable")
@click.argument("name")
@format_option
def enable(name: str, fmt: str) -> None:
    """Let the host take new instances."""
    emit_one(run(lambda env, ctx: service.set_enabled(env, ctx, name, True)), fmt)


@host.command("disable")
@click.argument("name")
@click.option("--reason", default=None, help="Why (shown by list/show and to the scheduler).")
@format_option
def disable(name: str, reason: str | None, fmt: str) -> None:
    """Stop the host taking new instances (running ones are not touched)."""
    emit_one(run(lambda env, ctx: service.set_enabled(env, ctx, name, False, reason)), fmt)
