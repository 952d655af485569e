"""Audit check ``clock``: the guest's own clock, read through the QEMU guest agent
(virDomainGetTime), against the host's UTC clock -- the ground truth seed 001 was about.

Asked only of running guests whose frozen properties give them the agent
(hw_qemu_guest_agent=yes). The host's time is taken as the middle of the call, so the agent's
round trip does not count as offset. Severity by size:

    |offset| <  2 s     nothing: within what one reading can tell
    |offset| <  60 s    info     drift NTP should be correcting
    |offset| <  300 s   warning  Kerberos (Active Directory) refuses logons beyond 5 minutes of
                                 skew (its default clock tolerance, Microsoft: "Maximum tolerance
                                 for computer clock synchronization")
    |offset| >= 300 s   error    and TLS, token expiry, logs and KMS activation (the client must
                                 be within 4 hours of its KMS host) go wrong

An offset within two minutes of a whole number of hours is the RTC read in the wrong time zone
(a guest kept in local time where UTC is expected, or the reverse): the message says so.
An agent that does not answer is reported at info (the guest may still be booting).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from kumo.audit.findings import Finding
from kumo.catalog.properties import ImageProperties
from kumo.db.models import Host, Instance
from kumo.errors import GuestAgentError, GuestNotRunning, HostError, KumoError
from kumo.hosts.protocol import HostConnection

#: (at least this many seconds off, severity, consequence), worst first
SEVERITY = (
    (300.0, "error", "Kerberos (Active Directory) logons fail beyond 5 minutes of skew, and TLS "
                     "certificates, tokens and log times are judged by a wrong clock"),
    (60.0, "warning", "Kerberos (Active Directory) logons fail once it reaches 5 minutes"),
    (2.0, "info", "drift NTP in the guest should be correcting"),
)


def wants_agent(instance: Instance) -> bool:
    try:
        props = ImageProperties.parse(dict(instance.image_properties or {}))
    except KumoError:
        return False  # the config check reports a record today's rules refuse
    return bool(props.get("hw_qemu_guest_agent"))


def offset_s(conn: HostConnection, domain: str,
             clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> float:
    """The guest's clock minus the host's UTC clock, in seconds."""
    before = clock()
    guest = conn.guest_time(domain)
    after = clock()
    return (guest - (before + (after - before) / 2)).total_seconds()


def check(conn: HostConnection, instance: Instance, host: Host, domain: str,
          clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
          ) -> list[Finding]:
    def finding(id: str, severity: str, message: str, fix: str) -> Finding:
        return Finding(id, severity, "clock", message, fix, instance.uuid, instance.name,
                       host.name, instance.project_id)

    try:
        off = offset_s(conn, domain, clock)
    except GuestNotRunning:
        return []
    except GuestAgentError as e:
        return [finding("guest-agent-silent", "info",
                        f"the guest agent did not answer ({e}): the guest clock was not read",
                        "audit again once the guest has booted; check that qemu-guest-agent "
                        "runs in it")]
    except HostError:
        raise
    size = abs(off)
    for limit, severity, consequence in SEVERITY:
        if size >= limit:
            break
    else:
        return []
    hours = round(size / 3600)
    zone = (f"; {hours} hour{'s' if hours != 1 else ''} exactly: the guest reads its RTC in "
            "the wrong time zone (local time where UTC is kept, or the reverse)"
            if hours >= 1 and abs(size - hours * 3600) < 120 else "")
    return [finding("guest-clock", severity,
                    f"guest clock {size:.0f} s {'ahead of' if off > 0 else 'behind'} the "
                    f"host's UTC clock: {consequence}{zone}",
                    f"kumo reconcile --sync-time --instance {instance.uuid} --apply")]
