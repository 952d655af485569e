"""``kumo doctor``: check that this machine can run kumo (kumo.doctor), print what to fix, exit
1 when a check fails."""

from __future__ import annotations

from dataclasses import asdict

import click

from kumo.cli.output import Output, list_options


@click.command("doctor")
@click.option("--uri", default="qemu:///system", show_default=True,
              help="libvirt URI of the host to check.")
@list_options
def doctor(uri: str, out: Output) -> None:
    """Check that this machine can run kumo, and say what to fix."""
    from kumo.doctor import run_checks
    checks = run_checks(uri)
    out.many([asdict(c) for c in checks], ("check", "status", "detail", "fix"), "kumo doctor")
    failed = [c.check for c in checks if c.status == "fail"]
    if failed:
        click.echo(f"kumo doctor: {len(failed)} check{'s' if len(failed) > 1 else ''} failed: "
                   f"{', '.join(failed)}", err=True)
        raise click.exceptions.Exit(1)
