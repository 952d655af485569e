"""``kumo bootstrap``, ``kumo project ...``, ``kumo user ...``, ``kumo role ...``: the Identity
API's projects, users and role assignments (kumo.identity.service), for the operator.

These act as the CLI's context (kumo.compute.context.cli_context: the operator, admin unless
KUMO_ROLES says otherwise), directly on the database, like every other kumo command.
"""

from __future__ import annotations

import click

from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import run
from kumo.identity import service

ROLES = ("admin", "member", "reader")


def _password_option(f):
    return click.option("--password", default=None, envvar="KUMO_BOOTSTRAP_PASSWORD",
                        help="The password (at least 8 characters); asked for when not given.",
                        show_envvar=True)(f)


def _password(value: str | None) -> str:
    if value is None:
        value = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.command("bootstrap")
@_password_option
@click.option("--username", default="admin", show_default=True)
@click.option("--project", "project", default="admin", show_default=True)
@show_options
def bootstrap(password: str | None, username: str, project: str, out: Output) -> None:
    """Create the first admin: a project and a user with the admin role on it (idempotent;
    re-running sets the password again)."""
    pw = _password(password)
    out.one(run(lambda env, ctx: service.bootstrap(env.db, pw, username, project)))


@click.group("project")
def project() -> None:
    """Identity projects (tenants): what owns servers, images and key pairs."""


@project.command("create")
@click.argument("name")
@click.option("--description", default="")
@show_options
def project_create(name: str, description: str, out: Output) -> None:
    """Create a project (admin)."""
    out.one(run(lambda env, ctx: service.create_project(env.db, ctx, name, description)))


@project.command("list")
@list_options
def project_list(out: Output) -> None:
    """List projects."""
    out.many(run(lambda env, ctx: service.list_projects(env.db, ctx)),
             ("id", "name", "enabled", "description"), "projects")


@click.group("user")
def user() -> None:
    """Identity users: who gets API tokens (password hashed with argon2)."""


@user.command("create")
@click.argument("name")
@_password_option
@click.option("--project", default=None, help="Default project (by name or id).")
@show_options
def user_create(name: str, password: str | None, project: str | None, out: Output) -> None:
    """Create a user (admin). Give it a role on a project with `kumo role add`."""
    pw = _password(password)
    out.one(run(lambda env, ctx: service.create_user(env.db, ctx, name, pw, project)))


@user.command("list")
@list_options
def user_list(out: Output) -> None:
    """List users (admin)."""
    out.many(run(lambda env, ctx: service.list_users(env.db, ctx)),
             ("id", "name", "enabled", "default_project_id"), "users")


@click.group("role")
def role() -> None:
    """Role assignments: admin, member or reader of a project."""


@role.command("add")
@click.argument("role_name", metavar="ROLE", type=click.Choice(ROLES))
@click.option("--user", "user_ref", required=True, help="User name or id.")
@click.option("--project", "project_ref", required=True, help="Project name or id.")
@show_options
def role_add(role_name: str, user_ref: str, project_ref: str, out: Output) -> None:
    """Give a user a role on a project (admin)."""
    out.one(run(lambda env, ctx: service.add_role(env.db, ctx, role_name, user_ref,
                                                  project_ref)))


@role.command("list")
@list_options
def role_list(out: Output) -> None:
    """List role assignments (admin)."""
    out.many(run(lambda env, ctx: service.list_role_assignments(env.db, ctx)),
             ("project", "user", "role"), "role assignments")
