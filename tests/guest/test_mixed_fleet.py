"""One fleet, three hypervisors, chosen per instance (seed 003's flaw was one template per cloud).

The same Windows and Linux images are planned for a KVM, a Xen and a Hyper-V host in one run;
each host's hypervisor picks the policy platform and the backend, with no global switch.
"""

import pytest

from kumo.backends import get_backend
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.defaults import host_caps_for

WINDOWS = ImageProperties.parse({"os_type": "windows", "os_distro": "windows",
                                 "os_version": "2012R2", "disk_format": "vhdx"})
LINUX = ImageProperties.parse({"os_type": "linux", "os_distro": "centos", "os_version": "7.1",
                               "disk_format": "vhdx"})

EXPECTED = [
    # host, image, backend media type, a fragment of the native config, clock offset
    ("kvm", WINDOWS, "application/xml", '<clock offset="localtime">', "localtime"),
    ("kvm", LINUX, "application/xml", '<clock offset="utc">', "utc"),
    ("xen", WINDOWS, "application/xml", '<clock offset="localtime"/>', "localtime"),
    ("xen", LINUX, "application/xml", '<clock offset="utc"/>', "utc"),
    ("hyperv", WINDOWS, "text/x-powershell", "New-VM", "localtime"),
    # Hyper-V: every VM's RTC is the host's local time (not configurable); the Time
    # Synchronization integration service keeps both guests right
    ("hyperv", LINUX, "text/x-powershell", "New-VM", "localtime"),
]


@pytest.mark.parametrize("hypervisor, image, media_type, fragment, offset", EXPECTED,
                         ids=[f"{e[0]}-{e[1].get('os_type')}" for e in EXPECTED])
def test_each_host_renders_its_own_way(hypervisor, image, media_type, fragment, offset):
    spec = build_guest(GuestRequest(image, host=host_caps_for(hypervisor), name="mixed",
                                    disk_format=image.get("disk_format")))
    rendered = get_backend(spec.hypervisor).render(spec)
    assert spec.hypervisor == hypervisor
    assert spec.clock.offset == offset
    assert rendered.media_type == media_type
    assert fragment in rendered.text
    if hypervisor == "hyperv":
        assert spec.clock.host_time_sync is True
        assert spec.decision("clock.host_time_sync").rule == "clock.hyperv-time-sync"
