"""``kumo host ...``: add, refresh, list, show, set, enable, disable, delete, orphans,
audit-usage."""

from __future__ import annotations

from dataclasses import asdict

import click

from kumo.cli import completion as complete
from kumo.cli.cloud import os_cloud_option
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
    from kumo.compute.lookup import prefix_clashes

    rows = run(service.list_hosts)
    out.many(rows, LIST_COLUMNS, "hosts")
    for line in prefix_clashes([r["name"] for r in rows]):
        click.echo(line, err=True)


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
@click.option("--down", "fence", flag_value="down", default=None,
              help="Confirm the host is fenced (powered off): it may then be evacuated "
                   "(Nova's forced_down). Journaled with who did it.")
@click.option("--up", "fence", flag_value="up",
              help="Clear the fencing confirmation (the host is back).")
@click.option("--reason", default=None, help="Why (with --down/--up; journaled).")
@click.option("--fence-command", default=None, metavar="COMMAND",
              help="Command that powers the host off and exits 0 once it is off (e.g. "
                   "'ipmitool -I lanplus -H BMC -U USER -E chassis power off'); run by "
                   "`kumo host fence` and kumo serve's automatic mode. '' removes it.")
@click.option("--reserved/--no-reserved", default=None,
              help="Make an empty host a spare that takes only evacuated servers, chosen "
                   "first and enabled when first used (Masakari's reserved_host); "
                   "--no-reserved: an ordinary host again.")
@show_options
def set_(name: str, virt_type: str | None, uri: str | None, availability_zone: str | None,
         cpu_allocation_ratio: float | None, ram_allocation_ratio: float | None,
         disk_allocation_ratio: float | None, fence: str | None, reason: str | None,
         fence_command: str | None, reserved: bool | None, out: Output) -> None:
    """Change a host's virt type, URI, allocation ratios or zone (its servers stay), or record
    that it is fenced (--down) or back (--up)."""
    from kumo.compute import evacuate, fencing, host_admin, spares
    ratios = {"cpu_allocation_ratio": cpu_allocation_ratio,
              "ram_allocation_ratio": ram_allocation_ratio,
              "disk_allocation_ratio": disk_allocation_ratio}
    other = (virt_type, uri, availability_zone, *ratios.values())

    def action(env, ctx):
        view = None
        if fence_command is not None:
            fencing.set_fence_command(env, ctx, name, fence_command)
        if reserved is not None:
            spares.set_reserved(env, ctx, name, reserved)
        if (fence is None and fence_command is None and reserved is None) or any(
                v is not None for v in other):
            view = host_admin.update_host(env, ctx, name, virt_type=virt_type, uri=uri,
                                          availability_zone=availability_zone, ratios=ratios)
        if view is None and fence is None:
            view = service.show_host(env, ctx, name, check_orphans=False)
        if fence is not None:
            view = evacuate.set_fenced(env, ctx, name, fence == "down", reason)
        return view
    out.one(run(action), f"host {name}")


@host.command("fence")
@click.argument("name", shell_complete=complete.hosts)
def fence_(name: str) -> None:
    """Run the host's fence command: exit 0 marks it fenced (as --down does); anything else
    leaves it unfenced. Command, exit status and output are journaled."""
    from kumo.compute import fencing

    def action(env, ctx) -> None:
        result = fencing.fence(env, ctx, name)
        fencing.refuse_failed(result)
        click.echo(f"host {result.host} fenced: {result.command!r} exited 0 after "
                   f"{result.seconds:.1f} s")
    run(action)


@host.command("evacuate")
@click.argument("name", required=False)
@click.option("--match", "pattern", default=None, metavar="GLOB",
              help="Evacuate every host whose name matches GLOB (shell pattern); the matched "
                   "hosts are printed and nothing is done without --yes.")
@click.option("--yes", is_flag=True, help="With --match: go ahead on the hosts listed.")
@click.option("--dry-run", is_flag=True, help="Print the plan (server, target, disk) only.")
@click.option("--accept-rebuild", is_flag=True,
              help="Accept that root disks are rebuilt from their images (data lost).")
@click.option("--force-unfenced", is_flag=True,
              help="Evacuate a down host not confirmed fenced (needs --reason; logged).")
@click.option("--reason", default=None, help="Why, with --force-unfenced.")
@click.option("--accept-new-tpm", is_flag=True,
              help="Move servers with a vTPM too: they boot with a new, empty TPM (secrets "
                   "sealed to the old one are lost).")
@click.option("--parallel", type=int, default=None, metavar="N",
              help="Servers moved at once (default: evacuate_parallel, 3).")
@os_cloud_option(" (admin; HOST, not --match)")
def evacuate_(name: str | None, pattern: str | None, yes: bool, dry_run: bool,
              accept_rebuild: bool, force_unfenced: bool, reason: str | None,
              accept_new_tpm: bool, parallel: int | None, os_cloud: str | None) -> None:
    """Rebuild every server of a failed, fenced host on hosts the scheduler chooses. HOST is an
    exact name or id; a pattern only with --match GLOB --yes."""
    from kumo.compute import evacuate
    from kumo.compute.lookup import match_hosts
    from kumo.errors import InvalidInput

    if (name is None) == (pattern is None):
        raise InvalidInput("give exactly one of HOST (an exact name or id) and --match GLOB")
    if force_unfenced and not (reason and reason.strip()):
        raise InvalidInput("--force-unfenced needs --reason TEXT (it is logged with who "
                           "gave it)")
    forced = reason.strip() if force_unfenced and reason else None
    if os_cloud is not None:
        if name is None:
            raise InvalidInput("--os-cloud evacuates one HOST named exactly: --match GLOB "
                               "is for the local database")
        return _evacuate_remote(os_cloud, name, dry_run=dry_run, accept_rebuild=accept_rebuild,
                                force_unfenced_reason=forced, accept_new_tpm=accept_new_tpm,
                                parallel=parallel)

    def action(env, ctx) -> None:
        names = [name] if name is not None else None
        if names is None:
            with env.db.session_scope(readonly=True) as s:
                names = [h.name for h in match_hosts(s, pattern)]
            if not names:
                raise InvalidInput(f"--match {pattern!r} matches no host")
            click.echo(f"--match {pattern!r} matches {len(names)} host(s): {', '.join(names)}")
            if not yes:
                click.echo("nothing done: add --yes to evacuate these hosts")
                return
        for ref in names:
            if dry_run:
                host_name, items = evacuate.plan(env, ctx, ref, force_unfenced_reason=forced,
                                                 accept_new_tpm=accept_new_tpm)
                _print_evacuation_plan(host_name, evacuate.reserved_hosts(env, host_name),
                                       [asdict(it) for it in items])
                continue
            from kumo.cli import progress

            total = len(evacuate.plan(env, ctx, ref, force_unfenced_reason=forced,
                                      accept_new_tpm=accept_new_tpm, choose_targets=False)[1])
            with progress.counting(f"evacuating {ref}") as bar:
                bar.start(total)

                def done(line: str) -> None:  # a line per server, stdout; the bar counts it
                    click.echo(line)
                    bar.advance(1)
                summary = evacuate.evacuate(env, ctx, ref, accept_rebuild=accept_rebuild,
                                            force_unfenced_reason=forced, parallel=parallel,
                                            accept_new_tpm=accept_new_tpm, progress=done)
            click.echo(summary.line())
            if summary.failed:  # the summary said which and why; scripts see the status
                raise SystemExit(3)
    run(action, recover=True)


def _evacuate_remote(os_cloud: str, name: str, *, dry_run: bool, **asked: object) -> None:
    """``kumo host evacuate HOST --os-cloud NAME``: the controller's evacuation, printed as the
    local command prints it (its lines once it is done)."""
    from urllib.parse import quote

    from kumo.cli import cloud

    done = cloud.kumo_call(os_cloud, "POST", f"/hosts/{quote(name, safe='')}/evacuate",
                           body={**asked, "dry_run": dry_run})
    if dry_run:
        return _print_evacuation_plan(done["host"], done["reserved"], done["plan"])
    click.echo(done["summary"])
    if done["failed"]:
        raise SystemExit(3)


def _print_evacuation_plan(host: str, reserved: list[str], items: list[dict]) -> None:
    """``--dry-run``: the plan's items (kumo.compute.evacuate.PlanItem's fields)."""
    click.echo(f"plan for {host}: {len(items)} server(s)")
    if reserved:
        click.echo(f"  reserved hosts tried first: {', '.join(reserved)} (the targets below "
                   "are the scheduler's choice without them)")
    for it in items:
        click.echo(f"  {it['name']} ({it['uuid']}) -> {it['target'] or 'NO HOST'}; "
                   f"{it['disk']}" + (f"; skipped: {it['skip']}" if it["skip"] else ""))


@host.command("drain")
@click.argument("name", shell_complete=complete.hosts)
@click.option("--dry-run", is_flag=True, help="Print the servers it would move (or skip) only.")
@click.option("--no-confirm", "confirm", flag_value=False, default=True,
              help="Leave each moved server VERIFY_RESIZE (its old copy kept on HOST) for "
                   "`kumo server migrate confirm|revert`; a re-run of the drain confirms them.")
@click.option("--accept-new-tpm", is_flag=True,
              help="Move servers with a vTPM too: they boot with a new, empty TPM.")
@click.option("--parallel", type=int, default=None, metavar="N",
              help="Servers moved at once (default: evacuate_parallel, 3).")
def drain_(name: str, dry_run: bool, confirm: bool, accept_new_tpm: bool,
           parallel: int | None) -> None:
    """Disable a live host and cold-migrate every server off it (HOST: an exact name or id);
    each move confirmed unless --no-confirm. Resumable: run it again to finish."""
    from kumo.compute import drain

    def action(env, ctx) -> None:
        host_name, items = drain.plan(env, ctx, name)
        if dry_run:
            click.echo(f"plan for {host_name}: {len(items)} server(s); the host is disabled "
                       "first")
            for it in items:
                click.echo(f"  {it.name} ({it.uuid}): " + (f"skipped: {it.skip}" if it.skip
                                                           else it.disk))
            return
        from kumo.cli import progress

        with progress.counting(f"draining {host_name}") as bar:
            bar.start(len(items))

            def done(line: str) -> None:  # a line per server, stdout; the bar counts it
                click.echo(line)
                bar.advance(1)
            summary = drain.drain(env, ctx, host_name, confirm=confirm, parallel=parallel,
                                  accept_new_tpm=accept_new_tpm, progress=done)
        click.echo(summary.line())
        if summary.failed:  # the summary said which and why; scripts see the status
            raise SystemExit(3)
    run(action, recover=True)


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
