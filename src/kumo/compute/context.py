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
MEMBER_ROLE = "member"
#: Keystone's default roles imply each other: admin -> member -> reader. A context whose roles
#: include neither admin nor member (only reader) may read what its project may see and change
#: nothing (Nova's, Glance's and Keystone's default "project reader" persona).
WRITER_ROLES = frozenset((ADMIN_ROLE, MEMBER_ROLE))
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

    @property
    def can_change(self) -> bool:
        """False for a reader-only context: it may read, never change (module docstring)."""
        return not WRITER_ROLES.isdisjoint(self.roles)

    def require_change(self, action: str) -> None:
        """Forbidden naming the action unless this context may change things (admin or
        member); a reader may only read."""
        if not self.can_change:
            raise Forbidden(f"{action} needs the {MEMBER_ROLE!r} or {ADMIN_ROLE!r} role; user "
                            f"{self.user_id!r} in project {self.project_id!r} has roles "
                            f"{', '.join(self.roles) or 'none'} (a reader may only read)")

    def owns(self, project_id: str | None) -> bool:
        """True if this context may act on a record of ``project_id``."""
        return self.is_admin or (project_id is not None and project_id == self.project_id)


def admin_context() -> RequestContext:
    return RequestContext(user_id="admin", project_id="admin", roles=(ADMIN_ROLE,))


#: who the journal says acted when kumo serve acts on its own (periodic work)
SERVICE_USER = "kumo-serve"


def service_context() -> RequestContext:
    """kumo serve acting on its own (automatic fencing and evacuation, cleanups)."""
    return RequestContext(user_id=SERVICE_USER, project_id="admin", roles=(ADMIN_ROLE,))


def cli_context(environ: Mapping[str, str] | None = None) -> RequestContext:
    """The context the ``kumo`` command acts in (see the module docstring)."""
    env = os.environ if environ is None else environ
    roles = env.get("KUMO_ROLES", ADMIN_ROLE)
    return RequestContext(
        user_id=env.get("KUMO_USER_ID") or "admin",
        project_id=env.get("KUMO_PROJECT_ID") or "admin",
        roles=tuple(r.strip() for r in roles.split(",") if r.strip()))
