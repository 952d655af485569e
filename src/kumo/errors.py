"""kumo's exceptions, all in one place.

    KumoError                      base of everything kumo raises on purpose
    ├── UserError                  the operator's input is wrong; message says what, the value, what is allowed
    │   ├── InvalidProperty        one or more image properties are invalid (carries every problem found)
    │   ├── InvalidInput           a CLI/API argument, file or flavor is malformed
    │   ├── ConfigConflict         two sources disagree (image vs flavor, property vs property)
    │   ├── UnsupportedGuest       the request is valid but cannot be realised on this hypervisor/host
    │   ├── NotFound               a named image, flavor, host or instance does not exist
    │   ├── NoFreeAddress          a subnet has no address left for a new port
    │   ├── Forbidden              the request context lacks the role the action needs
    │   ├── Unauthorized           no valid credentials (unknown user, wrong password, expired token)
    │   ├── ConfigError            a configuration file or KUMO_<KEY> variable is unknown or invalid
    │   └── NoValidHost            no host passes the filters (defined in kumo.scheduler.errors;
    │                              carries the "0/12 hosts: 7 insufficient RAM (...), ..." summary)
    ├── DatabaseUnusable           kumo's database cannot be used: unreachable, corrupt, not initialised
    │                              (translated from SQLAlchemy by kumo.db.failures)
    ├── HostError                  a hypervisor host failed or refused (translated from libvirt by error code)
    │   ├── HostUnreachable        the host's URI does not answer
    │   ├── DomainNotFound         the host has no such domain
    │   └── GuestAgentError        the QEMU guest agent failed the command it was given
    │       ├── GuestAgentUnresponsive   the guest has the agent channel but nothing answers on it
    │       └── GuestAgentNotConfigured  the domain has no agent channel at all
    └── StateError                 a lifecycle operation is not allowed in the current state
        ├── GuestNotRunning        a call that needs the running guest (its agent) found it stopped
        └── LeaseLost              this controller's lease on a journal entry expired and another
                                   controller took the work over: stop, it is theirs now

Programming errors (bugs) are not KumoErrors: they stay ordinary Python exceptions and are not
caught by the CLI's friendly error printer, so they are never disguised as user mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass


class KumoError(Exception):
    """Base class. ``str(err)`` is the full, operator-readable message."""


class UserError(KumoError):
    """The request is wrong; nothing was changed."""


@dataclass(frozen=True)
class PropertyProblem:
    """One invalid property: its name, the value given and what is allowed."""

    name: str
    value: object
    allowed: str

    def __str__(self) -> str:
        return f"{self.name}={self.value!r} is invalid: allowed {self.allowed}"


class InvalidProperty(UserError):
    def __init__(self, problems: list[PropertyProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class InvalidInput(UserError):
    pass


class ConfigConflict(UserError):
    pass


class UnsupportedGuest(UserError):
    pass


class NotFound(UserError):
    pass


class NoFreeAddress(UserError):
    pass


class Forbidden(UserError):
    pass


class Unauthorized(UserError):
    pass


class ConfigError(UserError):
    pass


class DatabaseUnusable(KumoError):
    """The database cannot be used; nothing was changed. The message says how to fix it."""


class HostError(KumoError):
    pass


class HostUnreachable(HostError):
    pass


class DomainNotFound(HostError):
    pass


class GuestAgentError(HostError):
    """The guest agent answered with an error (or failed in a way the subclasses do not name)."""


class GuestAgentUnresponsive(GuestAgentError):
    """The agent channel exists but no agent answers (not started in the guest, hung, or the
    guest is still booting): retrying later may succeed."""


class GuestAgentNotConfigured(GuestAgentError):
    """The domain has no guest agent channel (its image lacks hw_qemu_guest_agent=yes):
    retrying cannot succeed."""


class StateError(KumoError):
    pass


class GuestNotRunning(StateError):
    """The guest is not running (shut off or paused), so its agent cannot be asked."""


class LeaseLost(StateError):
    pass
