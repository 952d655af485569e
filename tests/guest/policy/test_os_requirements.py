"""The flavor against osinfo-db's minimum (error) and recommended (warning) RAM and disk."""

import pytest

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import plan_guest
from kumo.guest.request import GuestRequest


def findings(os_distro, flavor):
    plan = plan_guest(GuestRequest(ImageProperties.parse({"os_distro": os_distro}),
                                   flavor=flavor))
    return {f.id: (f.severity, f.message) for f in plan.findings
            if f.id.startswith("flavor-below-os")}


@pytest.mark.parametrize("os_distro, flavor, expected", [
    ("win11", Flavor(2, 2048, 40, name="small"), {
        "flavor-below-os-min-ram": ("error", "flavor 'small' has 2048 MiB RAM; Windows 11 needs "
                                    "at least 4096 MiB RAM (osinfo-db win-11.xml)"),
        "flavor-below-os-min-disk": ("error", "flavor 'small' has 40 GiB disk; Windows 11 needs "
                                     "at least 64 GiB disk (osinfo-db win-11.xml)")}),
    ("win2k19", Flavor(2, 1024, 32, name="lean"), {
        "flavor-below-os-recommended-ram": (
            "warning", "flavor 'lean' has 1024 MiB RAM; Windows Server 2019 runs poorly below "
            "the recommended 2048 MiB RAM (osinfo-db win-2k19.xml)"),
        "flavor-below-os-recommended-disk": (
            "warning", "flavor 'lean' has 32 GiB disk; Windows Server 2019 runs poorly below the "
            "recommended 40 GiB disk (osinfo-db win-2k19.xml)")}),
    ("win2k25", Flavor(1, 256, 20, name="tiny"), {
        "flavor-below-os-min-ram": ("error", "flavor 'tiny' has 256 MiB RAM; Windows Server 2025 "
                                    "needs at least 512 MiB RAM (Microsoft's Windows Server "
                                    "2025 requirements)"),
        "flavor-below-os-min-disk": ("error", "flavor 'tiny' has 20 GiB disk; Windows Server "
                                     "2025 needs at least 32 GiB disk (Microsoft's Windows "
                                     "Server 2025 requirements)")}),
    ("win11", Flavor(2, 4096, 0, name="image-sized"), {}),
    ("win11", Flavor(2, 4096, 64, name="fits"), {}),
    ("ubuntu22.04", Flavor(1, 4096, 25, name="fits"), {}),
], ids=["win11-below-minimum", "win2k19-below-recommended", "win2k25-newer-than-db",
        "disk-0-is-image-sized", "win11-fits", "ubuntu-fits"])
def test_flavor_against_the_release(os_distro, flavor, expected):
    assert findings(os_distro, flavor) == expected


def test_release_unknown_is_not_checked():
    plan = plan_guest(GuestRequest(ImageProperties.parse({"os_type": "windows"}),
                                   flavor=Flavor(1, 128, 1, name="tiny")))
    assert not [f for f in plan.findings if f.id.startswith("flavor-below-os")]
