"""``kumo placement explain``: why each registered host would or would not take an image and
flavor -- every filter's reasons, the weights of the hosts that pass, the host that would be
chosen, and the summary line a failed create carries as its fault.

Thin over kumo.scheduler.service.explain; the image and flavor are found as the caller may see
them (kumo.compute.lookup: an id, or an exact name). Like a create, it first asks the hosts whose
heartbeat is stale whether they answer (kumo.compute.heartbeat), so it explains what a create
would meet: a host that answers is up, one that does not is "compute down".
"""

from __future__ import annotations

import click
from sqlalchemy.exc import OperationalError

from kumo.cli.db import _shown, _unreachable, _url, url_option
from kumo.cli import completion as complete
from kumo.cli.output import Output, list_options
from kumo.compute import heartbeat
from kumo.compute.context import HYPERVISORS, cli_context
from kumo.compute.env import ComputeEnv
from kumo.compute.flavors import flavor_value
from kumo.compute.images import boot_properties
from kumo.compute.lookup import find_flavor, find_image
from kumo.config import Settings
from kumo.db import Database, migrate
from kumo.scheduler import service
from kumo.errors import DatabaseUnusable
from kumo.scheduler.explain import Explanation


@click.group("placement")
def placement() -> None:
    """Where guests go: the scheduler's filters and weighers over the registered hosts."""


@placement.command("explain")
@click.option("--image", "image_ref", required=True, metavar="NAME_OR_ID",
              help="Image id or exact name.", shell_complete=complete.images)
@click.option("--flavor", "flavor_ref", required=True, metavar="NAME_OR_ID",
              help="Flavor id or exact name.", shell_complete=complete.flavors)
@click.option("--availability-zone", metavar="ZONE", default=None,
              help="Place in this availability zone only.")
@click.option("--host", "hosts", metavar="NAME", multiple=True, shell_complete=complete.hosts,
              help="Consider only this host (exact name); repeatable.")
@click.option("--config", "config_file", metavar="FILE", default=None,
              help="Scheduler configuration file (default: KUMO_SCHEDULER_CONFIG, else "
                   "scheduler.toml in the data directory, else the defaults).")
@url_option
@list_options
def explain(image_ref: str, flavor_ref: str, availability_zone: str | None,
            hosts: tuple[str, ...], config_file: str | None, database_url: str | None,
            out: Output) -> None:
    """Explain where IMAGE with FLAVOR would be placed, host by host."""
    cli_context().require_admin(f"placement explain, which shows every host's inventory "
                                f"(Nova policy {HYPERVISORS})")
    url = _url(database_url)
    config = service.load_config(config_file)
    try:
        initialised = migrate.current_revision(url) is not None
    except OperationalError as e:
        raise _unreachable(url, e) from None
    if not initialised:  # (and a SQLite file that is not there is not created by asking)
        raise DatabaseUnusable(f"database {_shown(url)} is not initialised: run "
                               "`kumo db upgrade`, then add hosts, images and flavors")
    env = ComputeEnv(db=Database(url), settings=Settings.from_env())
    db = env.db
    try:
        with db.session_scope(readonly=True) as s:
            ctx = cli_context()
            image = find_image(s, ctx, image_ref)
            flavor = find_flavor(s, ctx, flavor_ref)
            spec = service.request_spec(boot_properties(image), flavor_value(flavor),
                                        availability_zone=availability_zone)
            subject = {"image": {"id": image.id, "name": image.name},
                       "flavor": {"id": flavor.flavorid, "name": flavor.name,
                                  "vcpus": flavor.vcpus, "ram": flavor.ram_mib,
                                  "disk": flavor.disk_gib + flavor.ephemeral_gib}}
        heartbeat.refresh_stale(env, config, hosts or None)
        result = service.explain(db, spec, config, hosts=hosts or None)
    except OperationalError as e:
        raise _unreachable(url, e) from None
    finally:
        env.close()
    _print(out, result, subject)


COLUMNS = ("host", "result", "weight", "reasons / weights")


def _print(out: Output, result: Explanation, subject: dict) -> None:
    f = subject["flavor"]
    title = (f"placement of image {subject['image']['name'] or subject['image']['id']} with "
             f"flavor {f['name']} ({f['vcpus']} vCPU, {f['ram']} MiB RAM, {f['disk']} GiB disk)")
    rows = []
    for r in result.rows:
        state = ("chosen" if r.host == result.chosen else "pass") if r.passed else "FAIL"
        rows.append({"host": r.host, "result": state,
                     "weight": "-" if r.total is None else f"{r.total:.4f}",
                     "reasons / weights": r.details()})
    out.many(rows, COLUMNS, title, document={**subject, **result.to_dict()})
    if out.is_table:
        click.echo(result.summary)
