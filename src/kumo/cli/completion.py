"""``kumo completion bash|zsh|fish``: the shell completion script (click's own), and the
completers that offer server, image, flavor, host and (your own) key pair names.

Install with e.g. ``kumo completion bash > /etc/bash_completion.d/kumo`` or
``eval "$(kumo completion bash)"`` in ~/.bashrc. The completers read the configured database
only when the shell asks (each TAB runs ``kumo`` with _KUMO_COMPLETE set), and offer nothing
rather than fail: a completion never prints an error into the user's command line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from click.shell_completion import CompletionItem, get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish."""
    from kumo.cli.main import cli
    cls = get_completion_class(shell)
    click.echo(cls(cli, {}, "kumo", "_KUMO_COMPLETE").source())


def _names(kind: str) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    def complete(ctx: click.Context, param: click.Parameter,
                 incomplete: str) -> list[CompletionItem]:
        try:
            return [CompletionItem(n) for n in resource_names(kind) if n.startswith(incomplete)]
        except Exception:  # noqa: BLE001 -- a completion offers nothing rather than fail
            return []
    return complete


def resource_names(kind: str) -> list[str]:
    """The names (and, for nameless or ambiguous ones, ids) of ``kind`` the CLI's user sees."""
    from sqlalchemy import select

    from kumo.compute.context import cli_context
    from kumo.compute.lookup import flavor_visible, image_visible, instance_visible
    from kumo.config import Settings
    from kumo.db import Database
    from kumo.db.models import Flavor, Host, Image, Instance, KeyPair

    url = Settings.from_env().database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return []  # (and asking must not create the database file)
    ctx = cli_context()
    query = {
        "server": select(Instance.name).where(instance_visible(ctx)),
        "image": select(Image.name).where(image_visible(ctx)),
        "flavor": select(Flavor.name).where(flavor_visible(ctx)),
        "host": select(Host.name),
        "keypair": select(KeyPair.name).where(KeyPair.user_id == ctx.user_id),
    }[kind]
    db = Database(url)
    try:
        with db.session_scope(readonly=True) as s:
            return sorted({n for n in s.scalars(query) if n})
    finally:
        db.dispose()


servers = _names("server")
images = _names("image")
flavors = _names("flavor")
hosts = _names("host")
keypairs = _names("keypair")
