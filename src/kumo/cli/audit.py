"""``kumo audit``: every instance against its record, its image and today's rules
(kumo.audit); findings with their consequences, exit 1 when any is an error."""

from __future__ import annotations

import click

from kumo.cli import completion as complete
from kumo.cli.cloud import os_cloud_option
from kumo.cli.output import Output, list_options

COLUMNS = ("severity", "id", "name", "host", "message")


@click.command("audit")
@click.option("--host", "hosts", multiple=True, metavar="HOST", shell_complete=complete.hosts,
              help="Only this host's instances, and this installation's domains there that no "
                   "record owns (exact name; repeatable; admin).")
@click.option("--instance", "instances", multiple=True, metavar="SERVER",
              shell_complete=complete.servers,
              help="Only this server (id or exact name; repeatable).")
@click.option("--all-projects", is_flag=True,
              help="Every project's instances, and the orphan domains on every host (admin).")
@click.option("--guest-clock/--no-guest-clock", default=True, show_default=True,
              help="Read the clock of running guests that have the QEMU guest agent.")
@click.option("--parallel", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Hosts audited at once (one libvirt connection each).")
@os_cloud_option(" (admin)")
@list_options
def audit(hosts: tuple[str, ...], instances: tuple[str, ...], all_projects: bool,
          guest_clock: bool, parallel: int, os_cloud: str | None, out: Output) -> None:
    """Compare every instance with its record, its image and today's rules; exit 1 on errors."""
    if os_cloud is not None:
        from kumo.cli import cloud

        params = [*(("host", h) for h in hosts), *(("instance", i) for i in instances),
                  ("all_projects", str(all_projects).lower()),
                  ("guest_clock", str(guest_clock).lower()), ("parallel", str(parallel))]
        found = cloud.kumo_call(os_cloud, "GET", "/audit", params=params)
        return _print(out, found["findings"], found["summary"], found["worst"])
    from kumo.audit.fleet import audit as run_audit
    from kumo.cli.progress import counting
    from kumo.cli.servers import run
    from kumo.compute.selection import Selection

    sel = Selection.of(hosts, instances, all_projects)
    with counting("auditing") as bar:
        report = run(lambda env, ctx: run_audit(env, ctx, sel, parallel=parallel,
                                                guest_clock=guest_clock, started=bar.start,
                                                progress=bar.advance))
    _print(out, [f.as_dict() for f in report.findings], report.summary(), report.worst)


def _print(out: Output, rows: list[dict], summary: str, worst: str | None) -> None:
    if out.is_table and not rows:
        click.echo("no findings")
    else:
        out.many(rows, COLUMNS, "audit")
    click.echo(summary, err=True)
    if worst == "error":
        raise click.exceptions.Exit(1)
