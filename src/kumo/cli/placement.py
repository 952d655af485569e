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
from kumo.cli.cloud import os_cloud_option
from kumo.cli.output import Output, list_options
from kumo.compute import placement as explained
from kumo.compute.context import HYPERVISORS, cli_context
from kumo.compute.env import ComputeEnv
from kumo.config import Settings
from kumo.db import Database, migrate
from kumo.errors import DatabaseUnusable, InvalidInput
from kumo.scheduler import service


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
@os_cloud_option()
@url_option
@list_options
def explain(image_ref: str, flavor_ref: str, availability_zone: str | None,
            hosts: tuple[str, ...], config_file: str | None, database_url: str | None,
            os_cloud: str | None, out: Output) -> None:
    """Explain where IMAGE with FLAVOR would be placed, host by host."""
    if os_cloud is not None:
        from kumo.cli import cloud

        if config_file or database_url:
            raise InvalidInput("--os-cloud asks the remote controller, which uses its own "
                               "scheduler configuration and database: drop --config and "
                               "--database-url")
        params = [("image", image_ref), ("flavor", flavor_ref),
                  *(("availability_zone", z) for z in [availability_zone] if z),
                  *(("host", h) for h in hosts)]
        return _print(out, cloud.kumo_get(os_cloud, "/placement/explain", params))
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
    try:
        document = explained.explain_placement(
            env, cli_context(), image_ref, flavor_ref, availability_zone=availability_zone,
            hosts=hosts, config=config)
    except OperationalError as e:
        raise _unreachable(url, e) from None
    finally:
        env.close()
    _print(out, document)


def _print(out: Output, document: dict) -> None:
    out.many(explained.rows(document), explained.COLUMNS, explained.title(document),
             document=document)
    if out.is_table:
        click.echo(document["summary"])
