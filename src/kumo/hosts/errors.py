"""libvirt errors -> kumo exceptions, by error code (conventions.md #10).

One table, ``ERROR_CLASSES``, says which kumo exception each libvirt error code becomes; a code
not in it becomes a plain ``HostError``. Two contexts change the answer: opening the
connection, where ``UNREACHABLE_ON_OPEN`` codes (the socket is missing or refuses, no driver
answers the URI) mean ``HostUnreachable``; and a call through the QEMU guest agent, where
``AGENT_ERROR_CLASSES`` say whether the guest is stopped, has no agent, or its agent is silent.
Every translated exception keeps libvirt's own message and names the host URI and the
operation; it also carries them as attributes (``uri``, ``action``, ``libvirt_code``,
``libvirt_message``) for code that needs more than the text.
Errors the hosts layer detects itself (``host_error``) carry the same attributes, with
``libvirt_code`` and ``libvirt_message`` None.

Error codes: https://libvirt.org/html/libvirt-virterror.html#virErrorNumber
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import libvirt

from kumo.errors import (
    DomainNotFound,
    GuestAgentError,
    GuestAgentNotConfigured,
    GuestAgentUnresponsive,
    GuestNotRunning,
    HostError,
    HostUnreachable,
    InvalidInput,
    KumoError,
    NotFound,
    StateError,
    UnsupportedGuest,
)

#: libvirt error code -> the kumo exception it becomes (anything else: HostError)
ERROR_CLASSES: Mapping[int, type[KumoError]] = MappingProxyType({
    libvirt.VIR_ERR_NO_DOMAIN: DomainNotFound,
    libvirt.VIR_ERR_NO_STORAGE_POOL: NotFound,
    libvirt.VIR_ERR_NO_STORAGE_VOL: NotFound,
    libvirt.VIR_ERR_NO_NETWORK: NotFound,
    libvirt.VIR_ERR_NO_NWFILTER: NotFound,
    # "XML error: ..." (a value libvirt's parser rejects) and "(domain_definition):1: ..." (not
    # well-formed): the document handed to libvirt is wrong.
    libvirt.VIR_ERR_XML_ERROR: InvalidInput,
    libvirt.VIR_ERR_XML_DETAIL: InvalidInput,
    libvirt.VIR_ERR_XML_INVALID_SCHEMA: InvalidInput,
    # "unsupported configuration: ..." - valid XML this host/hypervisor cannot realise, e.g.
    # host-passthrough CPU on a TCG (type='qemu') domain.
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED: UnsupportedGuest,
    # "Requested operation is not valid: domain is not running" and the like: the domain's
    # state forbids the operation; the host itself is fine.
    libvirt.VIR_ERR_OPERATION_INVALID: StateError,
})

#: in a call through the guest agent (virDomainGetTime, virDomainSetTime, virDomainSetUserPassword)
#: these codes mean more than the general table says. libvirt's QEMU driver checks, in order
#: (qemu_domain.c, qemuDomainAgentAvailable): the domain is running ("domain is not running",
#: OPERATION_INVALID -- also for a paused guest); an agent is connected ("QEMU guest agent is not
#: connected", AGENT_UNRESPONSIVE, when the channel exists but the guest has not opened it) or at
#: least configured ("QEMU guest agent is not configured", ARGUMENT_UNSUPPORTED: no channel).
#: An agent that never answers libvirt's guest-sync within 5 s is AGENT_UNRESPONSIVE too, one that
#: answers out of order AGENT_UNSYNCED; an agent that answers with an error is INTERNAL_ERROR
#: ("unable to execute QEMU agent command 'guest-set-time': ...", qemu_agent.c).
AGENT_ERROR_CLASSES: Mapping[int, type[KumoError]] = MappingProxyType({
    libvirt.VIR_ERR_OPERATION_INVALID: GuestNotRunning,
    libvirt.VIR_ERR_AGENT_UNRESPONSIVE: GuestAgentUnresponsive,
    libvirt.VIR_ERR_AGENT_UNSYNCED: GuestAgentUnresponsive,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED: GuestAgentNotConfigured,
    libvirt.VIR_ERR_INTERNAL_ERROR: GuestAgentError,
})

#: while opening a connection, these codes mean the host does not answer
UNREACHABLE_ON_OPEN: frozenset[int] = frozenset({
    libvirt.VIR_ERR_SYSTEM_ERROR,  # socket missing / connection refused / ssh failed
    libvirt.VIR_ERR_NO_CONNECT,  # no driver answers this URI
})


#: errors raised by libvirt's RPC client itself (virnetsocket.c, virnetclient.c: "Cannot recv
#: data: Connection reset by peer", "End of file while reading data", "connection closed due to
#: keepalive timeout") mean the connection to the daemon failed mid-call, whatever their code:
#: the host did not answer, and did not refuse (a retry later may succeed). An error a daemon
#: sends back carries the domain of the driver that raised it instead.
CONNECTION_LOST_DOMAINS: frozenset[int] = frozenset({libvirt.VIR_FROM_RPC})


def translate(err: libvirt.libvirtError, uri: str, action: str, *,
              opening: bool = False, agent: bool = False) -> KumoError:
    """The kumo exception for ``err``, raised while doing ``action`` (e.g. "start domain 'web1'")
    on the host ``uri``; ``agent``: the call went through the guest agent."""
    return from_code(err.get_error_code(), err.get_error_message() or str(err), uri, action,
                     opening=opening, agent=agent, domain=err.get_error_domain())


def from_code(code: int, message: str, uri: str, action: str, *, opening: bool = False,
              agent: bool = False, domain: int | None = None) -> KumoError:
    """The kumo exception for libvirt error ``code`` (from error ``domain``) with libvirt's
    ``message`` (translate's answer; also how kumo.hosts.fake fails exactly as a libvirt host
    would)."""
    if opening and code in UNREACHABLE_ON_OPEN:
        exc = HostUnreachable(f"host {uri} does not answer: {message}")
        return _with_context(exc, uri, action, code, message)
    if domain in CONNECTION_LOST_DOMAINS:
        return host_error(HostUnreachable, uri, action, message, code=code)
    if agent and code in AGENT_ERROR_CLASSES:
        return host_error(AGENT_ERROR_CLASSES[code], uri, action, message, code=code)
    return host_error(ERROR_CLASSES.get(code, HostError), uri, action, message, code=code)


def host_error(cls: type[KumoError], uri: str, action: str, message: str, *,
               code: int | None = None) -> KumoError:
    """``cls("cannot <action> on <uri>: <message>")`` with the context attributes; also for the
    errors the hosts layer detects itself (``code`` None)."""
    return _with_context(cls(f"cannot {action} on {uri}: {message}"), uri, action, code, message)


def _with_context(exc: KumoError, uri: str, action: str, code: int | None,
                  message: str) -> KumoError:
    exc.uri = uri  # type: ignore[attr-defined]
    exc.action = action  # type: ignore[attr-defined]
    exc.libvirt_code = code  # type: ignore[attr-defined]
    exc.libvirt_message = message if code is not None else None  # type: ignore[attr-defined]
    return exc
