"""The libvirt error-code table (kumo.hosts.errors), case by case."""

from __future__ import annotations

import libvirt
import pytest

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
from kumo.hosts.errors import AGENT_ERROR_CLASSES, ERROR_CLASSES, translate

URI = "qemu+ssh://node7/system"


def libvirt_error(code: int, message: str,
                  domain: int = libvirt.VIR_FROM_QEMU) -> libvirt.libvirtError:
    err = libvirt.libvirtError(message)
    # what virGetLastError() would have filled in: (code, domain, message, level, ...)
    err.err = (code, domain, message, libvirt.VIR_ERR_ERROR, None, None, None, 0, 0)
    return err


@pytest.mark.parametrize("code, message", [
    (libvirt.VIR_ERR_SYSTEM_ERROR, "Cannot recv data: Connection reset by peer"),
    (libvirt.VIR_ERR_SYSTEM_ERROR, "End of file while reading data: Input/output error"),
    (libvirt.VIR_ERR_INTERNAL_ERROR, "connection closed due to keepalive timeout"),
], ids=["reset", "eof", "keepalive"])
def test_connection_lost_mid_call_is_unreachable(code: int, message: str) -> None:
    """libvirt's RPC client raising mid-call: the host stopped answering, it did not refuse."""
    exc = translate(libvirt_error(code, message, libvirt.VIR_FROM_RPC), URI,
                    "start domain 'web1'")
    assert type(exc) is HostUnreachable
    assert str(exc) == f"cannot start domain 'web1' on {URI}: {message}"


CASES = [
    (libvirt.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching name 'web1'",
     DomainNotFound),
    (libvirt.VIR_ERR_NO_STORAGE_POOL,
     "Storage pool not found: no storage pool with matching name 'images'", NotFound),
    (libvirt.VIR_ERR_NO_STORAGE_VOL,
     "Storage volume not found: no storage vol with matching name 'web1.qcow2'", NotFound),
    (libvirt.VIR_ERR_XML_ERROR, "XML error: an os <type> must be specified", InvalidInput),
    (libvirt.VIR_ERR_XML_DETAIL,
     "(domain_definition):1: Couldn't find end of Start Tag domain line 1", InvalidInput),
    (libvirt.VIR_ERR_XML_INVALID_SCHEMA,
     "XML document failed to validate against schema", InvalidInput),
    (libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
     "unsupported configuration: CPU mode 'host-passthrough' for x86_64 qemu domain on x86_64 "
     "host is not supported by hypervisor", UnsupportedGuest),
    (libvirt.VIR_ERR_OPERATION_INVALID,
     "Requested operation is not valid: domain is not running", StateError),
    (libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: Domain 'test' is already running",
     HostError),
    (libvirt.VIR_ERR_SYSTEM_ERROR, "Cannot write data: Broken pipe", HostError),
    (libvirt.VIR_ERR_NO_CONNECT, "no connection driver available for foo:///x", HostError),
    (libvirt.VIR_ERR_AUTH_FAILED, "authentication failed", HostError),
]


@pytest.mark.parametrize("code, message, cls", CASES,
                         ids=[f"{c[0]}-{c[2].__name__}" for c in CASES])
def test_translate_by_code(code: int, message: str, cls: type[KumoError]) -> None:
    exc = translate(libvirt_error(code, message), URI, "start domain 'web1'")
    assert type(exc) is cls
    assert str(exc) == f"cannot start domain 'web1' on {URI}: {message}"
    assert (exc.uri, exc.action, exc.libvirt_code, exc.libvirt_message) == (
        URI, "start domain 'web1'", code, message)


OPEN_CASES = [
    (libvirt.VIR_ERR_SYSTEM_ERROR,
     "Cannot recv data: ssh: connect to host node7 port 22: Connection refused",
     HostUnreachable, f"host {URI} does not answer: Cannot recv data: ssh: connect to host node7 "
                      "port 22: Connection refused"),
    (libvirt.VIR_ERR_NO_CONNECT, "no connection driver available for qemu+ssh://node7/system",
     HostUnreachable, f"host {URI} does not answer: no connection driver available for "
                      "qemu+ssh://node7/system"),
    (libvirt.VIR_ERR_AUTH_FAILED, "authentication failed: access denied", HostError,
     f"cannot open a connection on {URI}: authentication failed: access denied"),
    (libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: unexpected qemu URI path '/x'", HostError,
     f"cannot open a connection on {URI}: internal error: unexpected qemu URI path '/x'"),
]


@pytest.mark.parametrize("code, message, cls, text", OPEN_CASES,
                         ids=["socket-refused", "no-driver", "auth-failed", "bad-path"])
def test_translate_on_open(code: int, message: str, cls: type[KumoError], text: str) -> None:
    exc = translate(libvirt_error(code, message), URI, "open a connection", opening=True)
    assert (type(exc), str(exc)) == (cls, text)


def test_the_table_maps_only_to_kumo_errors() -> None:
    assert all(issubclass(cls, KumoError) for cls in ERROR_CLASSES.values())


#: what libvirt 9.0's QEMU driver raises for a call through the guest agent (qemu_domain.c
#: qemuDomainAgentAvailable, qemu_agent.c), with the class it becomes there and elsewhere
AGENT_CASES = [
    (libvirt.VIR_ERR_OPERATION_INVALID, "Requested operation is not valid: domain is not running",
     GuestNotRunning, StateError),
    (libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
     "Guest agent is not responding: QEMU guest agent is not connected",
     GuestAgentUnresponsive, HostError),
    (libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
     "Guest agent is not responding: Guest agent not available for now",
     GuestAgentUnresponsive, HostError),
    (libvirt.VIR_ERR_AGENT_UNSYNCED,
     "Guest agent is not responding: guest agent replied with wrong id",
     GuestAgentUnresponsive, HostError),
    (libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
     "argument unsupported: QEMU guest agent is not configured",
     GuestAgentNotConfigured, HostError),
    (libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: unable to execute QEMU agent command "
     "'guest-set-time': Invalid time", GuestAgentError, HostError),
    (libvirt.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching name 'web1'",
     DomainNotFound, DomainNotFound),
    (libvirt.VIR_ERR_OPERATION_UNSUPPORTED, "Operation not supported: rtc-reset-reinjection",
     HostError, HostError),
]


@pytest.mark.parametrize("code, message, through_agent, elsewhere", AGENT_CASES,
                         ids=["not-running", "not-connected", "sync-timeout", "unsynced",
                              "not-configured", "command-failed", "no-domain", "unsupported"])
def test_translate_through_the_agent(code: int, message: str, through_agent: type[KumoError],
                                     elsewhere: type[KumoError]) -> None:
    action = "read the clock of domain 'web1' through its guest agent"
    exc = translate(libvirt_error(code, message), URI, action, agent=True)
    assert type(exc) is through_agent
    assert str(exc) == f"cannot {action} on {URI}: {message}"
    assert "\n" not in str(exc)
    assert type(translate(libvirt_error(code, message), URI, action)) is elsewhere


def test_agent_classes_refine_the_general_ones() -> None:
    """A caller catching what the general table gives (StateError, HostError) still catches the
    agent's errors: the agent table only names them more precisely."""
    for code, cls in AGENT_ERROR_CLASSES.items():
        assert issubclass(cls, ERROR_CLASSES.get(code, HostError)), cls
