"""``kumo ec2-credentials create|list|delete``: access keys for the EC2 Query API (/ec2 on kumo
serve), as Keystone's ``openstack ec2 credentials`` (kumo.identity.ec2_credentials)."""

from __future__ import annotations

import click

from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import run

LIST_COLUMNS = ("access", "user", "project", "created")


@click.group("ec2-credentials")
def ec2_credentials() -> None:
    """EC2 credentials (access key id + secret of a user in a project) for the EC2 Query API."""


@ec2_credentials.command("create")
@click.option("--user", "user_ref", default=None,
              help="User name or id (admin; default: yourself, KUMO_USER_ID).")
@click.option("--project", "project_ref", default=None,
              help="Project name or id (default: yours, KUMO_PROJECT_ID).")
@show_options
def create(user_ref: str | None, project_ref: str | None, out: Output) -> None:
    """Create a credential; its secret is shown this once (AWS_SECRET_ACCESS_KEY)."""
    from kumo.identity import ec2_credentials as service

    out.one(run(lambda env, ctx: service.create(env.db, env.settings.credential_key_file, ctx,
                                                user_ref, project_ref)))


@ec2_credentials.command("list")
@click.option("--user", "user_ref", default=None, help="Only this user's (admin for another's).")
@list_options
def list_(user_ref: str | None, out: Output) -> None:
    """List credentials (yours; an admin's: everyone's). Secrets are never listed."""
    from kumo.identity import ec2_credentials as service

    out.many(run(lambda env, ctx: service.list_credentials(env.db, ctx, user_ref)),
             LIST_COLUMNS, "EC2 credentials")


@ec2_credentials.command("delete")
@click.argument("access_keys", metavar="ACCESS_KEY...", nargs=-1, required=True)
def delete(access_keys: tuple[str, ...]) -> None:
    """Delete credentials by access key id; requests signed with them are refused at once."""
    from kumo.identity import ec2_credentials as service

    def act(env, ctx):
        for key in access_keys:
            service.delete(env.db, ctx, key)

    run(act)
