"""``kumo host ...``: add, refresh, list, show, set, enable, disable, delete, orphans,
audit-usage."""

from __future__ import annotations

from dataclasses import asdict

import click

from kumo.cli import completion as complete
from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import run
from kumo.compute import hosts as service

LIST_COLUMNS = ("name", "uri", "state", "last_contact", "hypervisor_type", "virt_type",
                "enabled", "vcpus", "vcpus_used", "ram", "ram_used", "disk", "disk_used",
                "instances")


AUDIT_COLUMNS = ("host", "vcpus_used", "vcpus_used_recorded", "ram_used", "ram_used_recorded",
                 "disk_used", "disk_used_recorded", "instances", "instances_recorded", "status")


@click.group("host")
def host() -> None:
    """Hypervisor hosts, named exactly (a name never matches another by its prefix)."""


@host.command("add")
@click.argument("name")
@click.option("--uri", required=True, help="libvirt URI (qemu:///system, qemu+ssh://host/system, "
                                           "xen+ssh://..., test:///default).")
@click.option("--virt-type", type=click.Choice(("kvm", "qemu")), default=None,
              help="Override the domain type (qemu = TCG, when KVM is unusable). KVM is "
                   "checked before the host is recorded.")
@click.option("--availability-zone", default=None)
@show_options
def add(name: str, uri: str, virt_type: str | None, availability_zone: str | None,
        out: Output) -> None:
    """Add a host: its capacity and capabilities are read from libvirt now."""
    out.one(run(lambda env, ctx: service.add_host(
        env, ctx, name, uri, virt_type=virt_type, availability_zone=availability_zone)),
        f"host {name}")


@host.command("refresh")
@click.argument("name", shell_complete=complete.hosts)
@show_options
def refresh(name: str, out: Output) -> None:
    """Probe the host again and store its capabilities (after upgrading QEMU, OVMF, swtpm)."""
    out.one(run(lambda env, ctx: service.refresh_host(env, ctx, name)), f"host {name}")


@host.command("list")
@list_options
def list_(out: Output) -> None:
    """List hosts: liveness (up, down, unknown: no kumo serve probing it) with the last good
    contact, capacity and usage."""
    out.many(run(service.list_hosts), LIST_COLUMNS, "hosts")


@host.command("show")
@click.argument("name", shell_complete=complete.hosts)
@show_options
def show(name: str, out: Output) -> None:
    """Show a host, its usage and the orphans found on it."""
    out.one(run(lambda env, ctx: service.show_host(env, ctx, name)), f"host {name}")


@host.command("orphans")
@click.argument("name", shell_complete=complete.hosts)
@list_options
def orphans(name: str, out: Output) -> None:
    """Domains and volumes named as kumo's with no instance behind them (never deleted)."""
    found = [asdict(o) for o in run(lambda env, ctx: service.find_orphans(env, ctx, name))]
    if out.is_table and not found:
        click.echo(f"no orphans on host {name}")
        return
    out.many(found, ("kind", "name", "reason"), f"orphans on {name}")


@host.command("audit-usage")
@click.option("--dry-run", is_flag=True,
              help="Only report: leave counters that differ as they are.")
@list_options
def audit_usage(dry_run: bool, out: Output) -> None:
    """Each host's usage counters against the instances recorded on it; fixes the ones that
    differ (every kumo server command does that too, and says so)."""
    from kumo.compute import usage

    report = run(lambda env, ctx: usage.audit(env, ctx, fix=not dry_run))
    out.many([a.view() for a in report], AUDIT_COLUMNS, "host usage")
    if out.is_table:
        for line in [a.describe() for a in report if not a.consistent]:
            click.echo(line, err=True)


@host.command("enable")
@click.argument("name", shell_complete=complete.hosts)
@show_options
def enable(name: str, out: Output) -> None:
    """Let the host take new instances."""
    out.one(run(lambda env, ctx: service.set_enabled(env, ctx, name, True)))


@host.command("disable")
@click.argument("name", shell_complete=complete.hosts)
@click.option("--reason", default=None, help="Why (shown by list/show and to the scheduler).")
@show_options
def disable(name: str, reason: str | None, out: Output) -> None:
    """Stop the host taking new instances (running ones are not touched)."""
    out.one(run(lambda env, ctx: service.set_enabled(env, ctx, name, False, reason)))


@host.command("set")
@click.argument("name", shell_complete=complete.hosts)
@click.option("--virt-type", type=click.Choice(("kvm", "qemu")), default=None,
              help="Domain type of new guests (checked on the host, as at add).")
@click.option("--uri", default=None, help="New libvirt URI of the host (asked now).")
@click.option("--availability-zone", default=None, help="New zone ('' for none).")
@click.option("--cpu-allocation-ratio", type=float, default=None)
@click.option("--ram-allocation-ratio", type=float, default=None)
@click.option("--disk-allocation-ratio", type=float, default=None)
@show_options
def set_(name: str, virt_type: str | None, uri: str | None, availability_zone: str | None,
         cpu_allocation_ratio: float | None, ram_allocation_ratio: float | None,
         disk_allocation_ratio: float | None, out: Output) -> None:
    """Change a host's virt type, URI, allocation ratios or zone; its servers stay."""
    from kumo.compute import host_admin
    ratios = {"cpu_allocation_ratio": cpu_allocation_ratio,
              "ram_allocation_ratio": ram_allocation_ratio,
              "disk_allocation_ratio": disk_allocation_ratio}
    out.one(run(lambda env, ctx: host_admin.update_host(
        env, ctx, name, virt_type=virt_type, uri=uri, availability_zone=availability_zone,
        ratios=ratios)), f"host {name}")


@host.command("delete")
@click.argument("names", metavar="NAME...", nargs=-1, required=True,
                shell_complete=complete.hosts)
def delete(names: tuple[str, ...]) -> None:
    """Remove hosts that run no server (refused while any server is on one)."""
    from kumo.compute import host_admin

    def action(env, ctx) -> None:
        for name in names:
            click.echo(f"deleted host {host_admin.delete_host(env, ctx, name)}")
    run(action)
