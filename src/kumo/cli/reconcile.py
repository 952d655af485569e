"""``kumo reconcile``: plan, apply and revert a change of many servers' frozen image properties
(kumo.compute.reconcile, kumo.compute.reconcile_run).

Without --apply it prints the plan and changes nothing: per server the property changes and the
unified diff of its domain XML. --apply carries it out as a run (its id printed: keep it for
--revert); --revert RUN_ID undoes a run; --show RUN_ID prints what a run did. Exit 1 when a
server's change failed (refused by the catalog or the host, or its hard reboot failed). Like every
``kumo server`` command it first finishes what a killed controller left (a killed reconcile's
half-done server included); the same command then resumes an interrupted run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from kumo.cli import completion as complete
from kumo.cli.cloud import os_cloud_option
from kumo.cli.output import Output, list_options
from kumo.cli.servers import parse_pairs, run

ITEM_COLUMNS = ("id", "name", "result", "detail", "journal")


@click.command("reconcile")
@click.option("--host", "hosts", multiple=True, metavar="HOST", shell_complete=complete.hosts,
              help="Only servers on this host (exact name; repeatable; admin).")
@click.option("--instance", "instances", multiple=True, metavar="SERVER",
              shell_complete=complete.servers, help="Only this server (id or exact name; "
                                                    "repeatable).")
@click.option("--all-projects", is_flag=True, help="Every project's servers, not only yours.")
@click.option("--set-property", "set_pairs", multiple=True, metavar="KEY=VALUE",
              help="Set a frozen image property (repeatable).")
@click.option("--unset-property", "unset", multiple=True, metavar="KEY",
              help="Remove a frozen image property (repeatable).")
@click.option("--from-image", is_flag=True,
              help="Re-freeze each server's properties from its image's current ones, as a "
                   "fresh boot would (set-property overrides replaced too; give "
                   "--set-property to keep one).")
@click.option("--sync-time", is_flag=True,
              help="Set each running guest's clock from the host's through its guest agent.")
@click.option("--reboot", type=click.Choice(["now", "on-next-stop"]), default=None,
              help="What happens to a running guest: `now` hard-reboots it into the new "
                   "configuration; `on-next-stop` redefines it and applies at its owner's next "
                   "stop or reboot. Without it a running guest is left unchanged.")
@click.option("--apply", "do_apply", is_flag=True,
              help="Carry the plan out (journaled, resumable; prints the run id).")
@click.option("--revert", "revert_id", default=None, metavar="RUN_ID",
              help="Undo run RUN_ID: every server it changed gets its record back.")
@click.option("--show", "show_id", default=None, metavar="RUN_ID",
              help="Print what run RUN_ID did to each server.")
@os_cloud_option(" (admin)")
@list_options
def reconcile(hosts: tuple[str, ...], instances: tuple[str, ...], all_projects: bool,
              set_pairs: tuple[str, ...], unset: tuple[str, ...], from_image: bool,
              sync_time: bool, reboot: str | None, do_apply: bool, revert_id: str | None,
              show_id: str | None, os_cloud: str | None, out: Output) -> None:
    """Plan (default), --apply or --revert a change of servers' frozen image properties.

    Re-frozen from their images (an image that gained os_type=windows after its guests
    booted: their clocks are hours off until they get it), or set and unset by key."""
    from kumo.compute import reconcile as plans, reconcile_run
    from kumo.compute.selection import Selection
    from kumo.errors import InvalidInput

    selecting = bool(hosts or instances or all_projects or set_pairs or unset or from_image
                     or sync_time)
    if revert_id is not None or show_id is not None:
        if selecting or do_apply or (revert_id is not None and show_id is not None):
            raise InvalidInput("--revert and --show take a run id alone (and --revert "
                               "--reboot): the run says which servers and what")
        if show_id is not None:
            if reboot is not None:
                raise InvalidInput("--show takes a run id alone")
            if os_cloud is not None:
                return _print_run(_remote(os_cloud, "GET", f"/reconcile/runs/{show_id}"), out)
            _print_run(run(lambda env, ctx: reconcile_run.show_run(env, ctx, show_id)).as_dict(),
                       out)
            return
        if os_cloud is not None:
            return _print_run(_remote(os_cloud, "POST", f"/reconcile/runs/{revert_id}/revert",
                                      {"reboot": reboot}), out)
        with _progress("reverting") as progress:
            report = run(lambda env, ctx: reconcile_run.revert(env, ctx, revert_id, reboot,
                                                               progress), recover=True)
        _print_run(report.as_dict(), out)
        return
    if os_cloud is not None:
        asked = {"hosts": list(hosts), "instances": list(instances),
                 "all_projects": all_projects,
                 "set_properties": parse_pairs(set_pairs, "--set-property"),
                 "unset_properties": list(unset), "from_image": from_image,
                 "sync_time": sync_time, "reboot": reboot, "apply": do_apply}
        answer = _remote(os_cloud, "POST", "/reconcile", asked)
        if do_apply:
            return _print_run(answer, out)
        return _print_plan(answer["plan"], answer["text"], out)
    request = plans.Request(Selection.of(hosts, instances, all_projects),
                            parse_pairs(set_pairs, "--set-property"), tuple(unset),
                            from_image, sync_time, reboot)
    if not do_apply:
        found = run(lambda env, ctx: plans.plan(env, ctx, request), recover=True)
        return _print_plan([p.as_dict() for p in found], plans.plan_text(found), out)
    with _progress("reconciling") as progress:
        report = run(lambda env, ctx: reconcile_run.apply(env, ctx, request, progress),
                     recover=True)
    _print_run(report.as_dict(), out)


def _remote(cloud_name: str, method: str, path: str, body: dict | None = None) -> dict:
    from kumo.cli import cloud

    return cloud.kumo_call(cloud_name, method, path, body=body)


def _print_plan(found: list[dict], text: str, out: Output) -> None:
    if out.is_table:
        click.echo(text, nl=False)
        click.echo(_plan_summary(found), err=True)
    else:
        out.many(found, ("id", "name", "host", "action", "error"))


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """The run's progress (done, total) on kumo's counting bar."""
    from kumo.cli.progress import counting

    with counting(description) as counter:
        seen = [-1]

        def update(done: int, total: int) -> None:
            if seen[0] < 0:  # a resumed run starts with some done
                counter.start(total)
                seen[0] = done - 1
            counter.advance(done - seen[0])
            seen[0] = done
        yield update


def _plan_summary(found: list[dict]) -> str:
    if not found:
        return "no servers selected"
    actions: dict[str, int] = {}
    for p in found:
        actions[p["action"]] = actions.get(p["action"], 0) + 1
    listed = ", ".join(f"{n} {a}" for a, n in actions.items())
    return f"plan for {len(found)} server(s): {listed}; nothing changed (give --apply)"


def _print_run(document: dict, out: Output) -> None:
    """A run, local or remote, as its document (RunReport.as_dict)."""
    run_id, items = document["run_id"], document["items"]
    title = (f"reconcile run {run_id} ({document['state']}"
             + (f", reverts run {document['revert_of']}" if document["revert_of"] else "")
             + (", resumed" if document["resumed"] else "") + ")")
    out.many(items, ITEM_COLUMNS, title=title, document=document)
    counted: dict[str, int] = {}
    for item in items:
        counted[item["result"]] = counted.get(item["result"], 0) + 1
    counts = ", ".join(f"{n} {state}" for state, n in counted.items()) or "no servers"
    click.echo(f"run {run_id}: {counts}"
               + ("" if document["revert_of"] else
                  f"; undo with: kumo reconcile --revert {run_id}"), err=True)
    if any(i["result"] == "failed" or i["journal"] == "failed" for i in items):
        sys.exit(1)  # a server refused its change, or its hard reboot failed
