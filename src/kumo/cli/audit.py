"""``kumo audit``: every instance against its record, its image and today's rules
(kumo.audit); findings with their consequences, exit 1 when any is an error."""

from __future__ import annotations

import click

from kumo.cli import completion as complete
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
@list_options
def audit(hosts: tuple[str, ...], instances: tuple[str, ...], all_projects: bool, guest_clock: bool,
          parallel: int, out: Output) -> None:
    """Compare every instance with its record, its image and today's rules; exit 1 on errors."""
    from kumo.audit.fleet import audit as run_audit
    from kumo.cli.progress import counting
    from kumo.cli.servers import run
    from kumo.compute.selection import Selection

    sel = Selection.of(hosts, instances, all_projects)
    with counting("auditing") as bar:
        report = run(lambda env, ctx: run_audit(env, ctx, sel, parallel=parallel,
                                                guest_clock=guest_clock, started=bar.start,
                                                progress=bar.advance))
    rows = [f.as_dict() for f in report.findings]
    if out.is_table and not rows:
        click.echo("no findings")
    else:
        out.many(rows, COLUMNS, "audit")
    click.echo(report.summary(), err=True)
    if report.worst == "error":
        raise click.exceptions.Exit(1)
