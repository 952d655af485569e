"""``kumo keypair ...``: create, import, list, show, delete (kumo.compute.keypairs).

A key pair is the calling user's (``KUMO_USER_ID``); an admin acts on another user's with
``--user USER_ID``. ``create`` generates a key and prints its private half once (or writes it to
``--private-key FILE``, created 0600 and never overwritten); kumo keeps only the public half.
``import`` takes an OpenSSH public key file (the ``.pub`` ssh-keygen writes) and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from kumo.cli import completion as complete
from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import run
from kumo.compute import keypairs as service
from kumo.compute.keys import GENERATED_TYPES, MAX_KEY_BYTES
from kumo.errors import InvalidInput
from kumo.files import read_text

LIST_COLUMNS = ("name", "fingerprint", "type")

user_option = click.option("--user", "user_id", default=None, metavar="USER_ID",
                           help="Another user's key pairs (admin; Nova's user_id).")


@click.group("keypair")
def keypair() -> None:
    """SSH key pairs: the public keys your servers are created with (--key-name)."""


@keypair.command("create")
@click.argument("name")
@click.option("--private-key", "private_key_file", default=None, metavar="FILE",
              help="Write the private key to FILE (created with mode 0600; an existing file "
                   "is not overwritten) instead of printing it.")
@click.option("--key-type", "kind", type=click.Choice(GENERATED_TYPES), default="ed25519",
              show_default=True, help="The kind of key generated (rsa: 3072 bits).")
@user_option
@show_options
def create(name: str, private_key_file: str | None, kind: str, user_id: str | None,
           out: Output) -> None:
    """Generate a key pair; its private key is shown once (kumo keeps only the public key)."""
    fd = _open_new(private_key_file) if private_key_file else None
    try:
        created = run(lambda env, ctx: service.create_key_pair(env, ctx, name, kind=kind,
                                                               user_id=user_id))
    except BaseException:
        if fd is not None:
            os.close(fd)
            os.unlink(private_key_file)  # type: ignore[arg-type]
        raise
    view = created.keypair.view()
    if fd is not None:
        with os.fdopen(fd, "w") as f:
            f.write(created.private_key or "")
        view["private_key"] = f"written to {private_key_file} (mode 0600)"
        out.one(view, f"key pair {name}")
        return
    if out.is_table:  # as openstack keypair create: the private key alone, ready to save
        click.echo(created.private_key, nl=False)
        click.echo("kumo: the private key is shown once: save it now (kumo keeps only the "
                   "public key)", err=True)
        return
    out.one({**view, "private_key": created.private_key}, f"key pair {name}")


def _open_new(path: str) -> int:
    """``path`` created for writing with mode 0600, before anything is generated or recorded
    (so a path that cannot be written refuses the command with nothing done)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise InvalidInput(f"--private-key {path!r} already exists: allowed a new file (kumo "
                           "does not overwrite a key file)") from None
    os.fchmod(fd, 0o600)  # whatever the umask
    return fd


@keypair.command("import")
@click.argument("name")
@click.option("--public-key", "public_key_file", required=True, metavar="FILE",
              help="The OpenSSH public key file (e.g. ~/.ssh/id_ed25519.pub).")
@user_option
@show_options
def import_(name: str, public_key_file: str, user_id: str | None, out: Output) -> None:
    """Record an existing OpenSSH public key as a key pair (a private key is refused)."""
    text = read_text(public_key_file, "--public-key", MAX_KEY_BYTES)
    what = f"--public-key {Path(public_key_file).name}"  # the refusal names the file
    out.one(run(lambda env, ctx: service.import_key_pair(
        env, ctx, name, text, user_id=user_id, what=what)).view(), f"key pair {name}")


@keypair.command("list")
@user_option
@list_options
def list_(user_id: str | None, out: Output) -> None:
    """List your key pairs."""
    out.many([k.view() for k in run(lambda env, ctx: service.list_key_pairs(
        env, ctx, user_id=user_id))], LIST_COLUMNS, "key pairs")


@keypair.command("show")
@click.argument("name", shell_complete=complete.keypairs)
@user_option
@show_options
def show(name: str, user_id: str | None, out: Output) -> None:
    """Show a key pair and its public key."""
    out.one(run(lambda env, ctx: service.show_key_pair(env, ctx, name,
                                                       user_id=user_id)).view())


@keypair.command("delete")
@click.argument("names", nargs=-1, required=True, metavar="NAME...",
                shell_complete=complete.keypairs)
@user_option
def delete(names: tuple[str, ...], user_id: str | None) -> None:
    """Delete key pairs, all or none (servers created with one keep their copy of the key)."""
    run(lambda env, ctx: service.delete_key_pairs(env, ctx, names, user_id=user_id))
    for name in names:
        click.echo(f"deleted key pair {name}")
