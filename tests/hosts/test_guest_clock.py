"""The guest clock through the guest agent: LibvirtHost.guest_time / set_guest_time (what they
hand libvirt, how its errors come back) and FakeHost's guest clock and failure modes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import libvirt
import pytest

from kumo.errors import (
    DomainNotFound,
    GuestAgentNotConfigured,
    GuestAgentUnresponsive,
    GuestNotRunning,
    InvalidInput,
)
from kumo.hosts.fake import AGENT_CHANNEL, Fault, FakeHost
from kumo.hosts.libvirt_host import LibvirtHost
from kumo.hosts.protocol import DomainState
from tests.hosts.test_errors import libvirt_error

UTC = timezone.utc
NOW = datetime(2026, 11, 28, 22, 0, 0, 250_000, tzinfo=UTC)


# --- LibvirtHost -----------------------------------------------------------------------------

def test_guest_time_on_the_test_driver(test_host: LibvirtHost) -> None:
    """libvirt's test driver answers virDomainGetTime with a fixed 627319920 s, 0 ns."""
    got = test_host.guest_time("test")
    assert got == datetime(1989, 11, 17, 15, 32, tzinfo=UTC)
    assert got.tzinfo is UTC


class RecordingDomain:
    """Stands in for a virDomain: records getTime/setTime, or raises a libvirt error."""

    def __init__(self, error: libvirt.libvirtError | None = None,
                 answer: dict[str, int] | None = None):
        self.error, self.answer = error, answer
        self.set: list[tuple[dict[str, int], int]] = []

    def getTime(self, flags: int) -> dict[str, int]:  # noqa: N802 - libvirt's name
        if self.error:
            raise self.error
        assert self.answer is not None
        return self.answer

    def setTime(self, time: dict[str, int], flags: int) -> None:  # noqa: N802
        if self.error:
            raise self.error
        self.set.append((time, flags))


@pytest.fixture
def stub_host(monkeypatch: pytest.MonkeyPatch):
    host = LibvirtHost("qemu+ssh://node7/system")
    domains: dict[str, RecordingDomain] = {}
    monkeypatch.setattr(host, "_domain", lambda name, action: domains[name])
    return host, domains


def test_guest_time_keeps_microseconds(stub_host) -> None:
    host, domains = stub_host
    domains["web"] = RecordingDomain(answer={"seconds": 1795903200, "nseconds": 250_999_999})
    assert host.guest_time("web") == datetime(2026, 11, 28, 22, 0, 0, 250_999, tzinfo=UTC)


@pytest.mark.parametrize("when, expected", [
    (NOW, {"seconds": 1795903200, "nseconds": 250_000_000}),
    (datetime(2026, 11, 29, 6, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=8))),
     {"seconds": 1795903200, "nseconds": 250_000_000}),
    (datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC), {"seconds": 0, "nseconds": 1000}),
], ids=["utc", "utc+8-same-instant", "epoch+1us"])
def test_set_guest_time_sends_the_exact_instant_without_the_sync_flag(stub_host, when,
                                                                      expected) -> None:
    host, domains = stub_host
    domains["web"] = RecordingDomain()
    host.set_guest_time("web", when)
    assert domains["web"].set == [(expected, 0)]


def test_set_guest_time_none_sends_the_hosts_utc_now(stub_host) -> None:
    host, domains = stub_host
    domains["web"] = RecordingDomain()
    before = datetime.now(UTC)
    host.set_guest_time("web")
    after = datetime.now(UTC)
    (sent, flags), = domains["web"].set
    instant = datetime.fromtimestamp(sent["seconds"], UTC) + timedelta(
        microseconds=sent["nseconds"] // 1000)
    assert flags == 0  # not VIR_DOMAIN_TIME_SYNC: that resyncs from the guest's own RTC
    assert before <= instant <= after


def test_naive_time_is_refused_before_the_host_is_asked(stub_host) -> None:
    host, domains = stub_host
    domains["web"] = RecordingDomain()
    with pytest.raises(InvalidInput) as e:
        host.set_guest_time("web", datetime(2026, 11, 28, 22, 0))
    assert str(e.value) == ("guest time 2026-11-28T22:00:00 has no time zone: give an aware "
                            "datetime (e.g. with tzinfo=timezone.utc)")
    assert domains["web"].set == []


@pytest.mark.parametrize("code, message, cls", [
    (libvirt.VIR_ERR_OPERATION_INVALID,
     "Requested operation is not valid: domain is not running", GuestNotRunning),
    (libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
     "argument unsupported: QEMU guest agent is not configured", GuestAgentNotConfigured),
    (libvirt.VIR_ERR_AGENT_UNRESPONSIVE,
     "Guest agent is not responding: QEMU guest agent is not connected", GuestAgentUnresponsive),
], ids=["not-running", "no-agent", "agent-silent"])
@pytest.mark.parametrize("call, action", [
    (lambda h: h.guest_time("web"), "read the clock of domain 'web' through its guest agent"),
    (lambda h: h.set_guest_time("web", NOW),
     "set the clock of domain 'web' through its guest agent"),
], ids=["get", "set"])
def test_agent_errors_are_typed_one_line(stub_host, code, message, cls, call, action) -> None:
    host, domains = stub_host
    domains["web"] = RecordingDomain(error=libvirt_error(code, message))
    with pytest.raises(cls) as e:
        call(host)
    assert str(e.value) == f"cannot {action} on qemu+ssh://node7/system: {message}"


# --- FakeHost --------------------------------------------------------------------------------

AGENT_XML = (f"<domain><name>web</name><devices><channel type='unix'><target type='virtio' "
             f"name='{AGENT_CHANNEL}'/></channel></devices></domain>")


@pytest.fixture
def fake() -> FakeHost:
    host = FakeHost("fake:///h")
    host.clock = lambda: NOW
    host.define(AGENT_XML)
    host.start("web")
    return host


def test_fake_guest_clock_reads_its_offset_and_set_fixes_it(fake: FakeHost) -> None:
    assert fake.guest_time("web") == NOW
    fake.domains["web"].guest_clock_offset = timedelta(hours=8)
    assert fake.guest_time("web") == NOW + timedelta(hours=8)
    fake.set_guest_time("web")
    assert fake.guest_time("web") == NOW
    fake.set_guest_time("web", NOW - timedelta(seconds=90))
    assert fake.domains["web"].guest_clock_offset == timedelta(seconds=-90)
    assert [c.args for c in fake.ops("guest_time", "set_guest_time")] == [
        {"domain_name": "web"}, {"domain_name": "web"},
        {"domain_name": "web", "when": None}, {"domain_name": "web"},
        {"domain_name": "web", "when": NOW - timedelta(seconds=90)}]


def _no_agent(h: FakeHost) -> None:
    h.define("<domain><name>web</name></domain>")


def _stopped(h: FakeHost) -> None:
    h.destroy("web")


def _paused(h: FakeHost) -> None:
    h.domains["web"].state = DomainState.PAUSED


def _silent(h: FakeHost) -> None:
    h.domains["web"].agent_answers = False


def _armed(h: FakeHost) -> None:
    h.fail("guest_time", Fault.AGENT)
    h.fail("set_guest_time", Fault.AGENT)


def _undefined(h: FakeHost) -> None:
    h.destroy("web")
    h.undefine("web")


@pytest.mark.parametrize("setup, cls, message", [
    (_stopped, GuestNotRunning, "Requested operation is not valid: domain is not running"),
    (_paused, GuestNotRunning, "Requested operation is not valid: domain is not running"),
    (_no_agent, GuestAgentNotConfigured,
     "argument unsupported: QEMU guest agent is not configured"),
    (_silent, GuestAgentUnresponsive,
     "Guest agent is not responding: QEMU guest agent is not connected"),
    (_undefined, DomainNotFound, "Domain not found: no domain with matching name 'web'"),
], ids=["stopped", "paused", "no-agent", "agent-silent", "no-domain"])
@pytest.mark.parametrize("op", ["guest_time", "set_guest_time"])
def test_fake_agent_failures(fake: FakeHost, setup, cls, message, op) -> None:
    setup(fake)
    if "web" in fake.domains:
        fake.domains["web"].guest_clock_offset = timedelta(hours=8)
    with pytest.raises(cls) as e:
        getattr(fake, op)("web")
    verb = "read" if op == "guest_time" else "set"
    assert str(e.value) == (f"cannot {verb} the clock of domain 'web' through its guest agent "
                            f"on fake:///h: {message}")
    if "web" in fake.domains:  # nothing changed
        assert fake.domains["web"].guest_clock_offset == timedelta(hours=8)


@pytest.mark.parametrize("op", ["guest_time", "set_guest_time"])
def test_fake_armed_agent_fault_is_unresponsive(fake: FakeHost, op) -> None:
    _armed(fake)
    with pytest.raises(GuestAgentUnresponsive, match="QEMU guest agent is not connected"):
        getattr(fake, op)("web")
    getattr(fake, op)("web")  # once only


def test_fake_naive_time_refused(fake: FakeHost) -> None:
    with pytest.raises(InvalidInput, match="has no time zone"):
        fake.set_guest_time("web", datetime(2026, 1, 1))
    assert fake.domains["web"].guest_clock_offset == timedelta(0)
