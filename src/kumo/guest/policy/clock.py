"""Rules: the guest's RTC offset and timers.

Windows keeps its real-time clock in local time; Linux in UTC. Nova writes
``<clock offset='localtime'>`` only when os_type=windows (nova/virt/libvirt/driver.py
``_set_clock``; Microsoft KB 2687252 says the RealTimeIsUniversal registry alternative is buggy).
Seed 001: Windows guests were exactly 8 hours slow on UTC+8 hosts and KMS activation failed
because os_type was missing and the clock was 'utc'.

kumo goes one step further than Nova: when a guest time zone is configured (image property
kumo_guest_timezone, else the host's guest_timezone) a local-time guest gets
``<clock offset='timezone' timezone='...'>`` so its RTC does not depend on the host's own
/etc/localtime (seed 001's fleet runs hosts in UTC but wants China Standard Time guests).

Timers (libvirt formatdomain "Time keeping"; Nova ``_set_kvm_timers``): rtc tickpolicy=catchup
and pit tickpolicy=delay keep a descheduled guest's clock from drifting; hpet is removed unless
hw_time_hpet asks for it (it is slow to emulate and Windows prefers it when present);
hypervclock (the Hyper-V reference TSC page) needs KVM, so it is added for Windows on kvm only.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context
from kumo.guest.spec import ClockSpec, Timer


def decide_clock(c: Context) -> ClockSpec:
    d = c.d
    if c.windows:
        tz_source = None
        if "kumo_guest_timezone" in c.props:
            tz_source = c.prop("kumo_guest_timezone")
        elif c.req.host_config.guest_timezone:
            tz_source = ("host guest_timezone", c.req.host_config.guest_timezone)
        if tz_source:
            tz = tz_source[1]
            d.decide("clock.offset", "timezone", "clock.windows-timezone", tz_source[0], tz,
                     f"Windows keeps its RTC in local time; a guest time zone is configured, "
                     f"so the RTC runs in {tz} whatever the host's own zone")
            d.decide("clock.timezone", tz, "clock.windows-timezone", tz_source[0], tz,
                     "the configured guest time zone")
            offset, timezone = "timezone", tz
        else:
            d.decide("clock.offset", "localtime", "clock.windows-localtime", "os_type",
                     "windows",
                     "Windows keeps its RTC in local time (with 'utc' the guest runs "
                     "8 hours slow on a UTC+8 host and KMS activation fails; Microsoft KB "
                     "2687252)")
            offset, timezone = "localtime", None
    else:
        d.decide("clock.offset", "utc", "clock.utc", "os_type", c.chosen["os_type"],
                 "Linux and other non-Windows guests keep their RTC in UTC")
        offset, timezone = "utc", None

    timers: list[Timer] = []
    if c.hypervisor in ("kvm", "qemu"):
        timers.append(Timer("rtc", tickpolicy="catchup"))
        d.decide("clock.timer.rtc", "catchup", "clock.kvm-timers", "hypervisor", c.hypervisor,
                 "rtc tickpolicy=catchup: missed RTC ticks are delivered faster so guest "
                 "time catches up after the guest was descheduled (Nova _set_kvm_timers)")
        timers.append(Timer("pit", tickpolicy="delay"))
        d.decide("clock.timer.pit", "delay", "clock.kvm-timers", "hypervisor", c.hypervisor,
                 "pit tickpolicy=delay: late PIT ticks are delivered late rather than "
                 "bunched, which the guest tolerates (Nova _set_kvm_timers)")
        if c.props.get("hw_time_hpet"):
            name, given = c.prop("hw_time_hpet")
            timers.append(Timer("hpet", present=True))
            d.decide("clock.timer.hpet", "present", "clock.hpet-requested", name, given,
                     "the image asks for an HPET")
        else:
            timers.append(Timer("hpet", present=False))
            d.decide("clock.timer.hpet", "absent", "clock.kvm-timers", "default", None,
                     "no HPET unless hw_time_hpet=yes: an emulated HPET is costly and Windows "
                     "prefers it over better clocks when present")
        if c.windows and c.hypervisor == "kvm":
            timers.append(Timer("hypervclock", present=True))
            d.decide("clock.timer.hypervclock", "present", "clock.hypervclock", "os_type",
                     "windows",
                     "the Hyper-V reference time page gives Windows a cheap, stable clock "
                     "source (needs KVM; not offered under TCG)")
    return ClockSpec(offset=offset, timezone=timezone, timers=tuple(timers))
