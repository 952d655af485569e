"""RequestContext: who is asking. Every service function takes one (tenancy from day one).

The HTTP API will build it from a Keystone token; the CLI builds it from the environment
(``cli_context``): KUMO_USER_ID / KUMO_PROJECT_ID / KUMO_ROLES, by default the operator
(user ``admin``, project ``admin``, role ``admin``), as an OpenStack cloud admin's openrc would.

Records a context creates carry its project_id and user_id; reads see what the project owns
(plus public images); an admin context sees everything, and only an admin may change hosts and
flavors (Nova's default policy). Host details are an admin's too, as in Nova's default policy:
choosing the host a server boots on (``FORCED_HOST``), the host inventory ``placement explain``
shows (``HYPERVISORS``) and the host a server runs on (``SERVER_HOST``: a member sees Nova's
``hostId``, a per-project hash, instead).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Mapping

from kumo.errors import Forbidden

ADMIN_ROLE = "admin"
#: Nova policy names (nova/policies/servers.py, hypervisors.py, extended_server_attributes.py),
#: all admin-only by default
FORCED_HOST = "compute:servers:create:forced_host"
HYPERVISORS = "os_compute_api:os-hypervisors"
SERVER_HOST = "os_compute_api:os-extended-server-attributes"


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    project_id: str
    roles: tuple[str, ...] = ()
    #: correlates the journal entries of one request (Nova's req-<uuid>)
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def require_admin(self, action: str) -> None:
        """Forbidden naming the action unless this context has the admin role."""
        if not self.is_admin:
            raise Forbidden(f"{action} needs the {ADMIN_ROLE!r} role; user {self.user_id!r} "
                            f"in project {self.project_id!r} has roles "
                            f"{', '.join(self.roles) or 'none'}")

    def owns(self, project_id: str | None) -> bool:
        """True if this context may act on a record of ``project_id``."""
        return self.is_admin or (project_id is not None and project_id == self.project_id)


def admin_context() -> RequestContext:
    return RequestContext(user_id="admin", project_id="admin", roles=(ADMIN_ROLE,))


def cli_context(environ: Mapping[str, str] | None = None) -> RequestContext:
    """The context the ``kumo`` command acts in (see the module docstring)."""
    env = os.environ if environ is None else environ
    roles = env.get("KUMO_ROLES", ADMIN_ROLE)
    return RequestContext(
        user_id=env.get("KUMO_USER_ID") or "admin",
        project_id=env.get("KUMO_PROJECT_ID") or "admin",
        roles=tuple(r.strip() for r in roles.split(",") if r.strip()))
