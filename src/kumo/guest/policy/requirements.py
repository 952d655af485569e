"""Rule: the flavor gives the release at least the RAM and disk it needs.

osinfo-db records each release's minimum and recommended RAM and disk (``kumo.osinfo.
requirements``; Windows 11: 4 GiB and 64 GB, as in Microsoft's Windows 11 specifications).
Below the minimum the installer refuses and the installed system fails to boot or thrashes:
an error. Below the recommended figures it runs, poorly: a warning. A flavor disk of 0 means
"the image's own size" (Nova), which kumo cannot judge here, so it is not checked.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context
from kumo.osinfo.requirements import requirements


def check_os_requirements(c: Context, arch: str) -> None:
    need = requirements(c.os.short_id, arch)
    if need is None:
        return
    d, flavor, os = c.d, c.req.flavor, c.os
    checks = (("ram", flavor.ram_mib, "MiB RAM", need.min_ram_mib, need.recommended_ram_mib),
              ("disk", flavor.disk_gib, "GiB disk", need.min_disk_gib,
               need.recommended_disk_gib))
    for what, have, unit, minimum, recommended in checks:
        if not have:
            continue
        if minimum and have < minimum:
            d.error(f"flavor-below-os-min-{what}", f"flavor {flavor.name!r} has {have} {unit}; "
                    f"{os.name} needs at least {minimum} {unit} ({need.source})",
                    f"use a flavor with at least {minimum} {unit}")
        elif recommended and have < recommended:
            d.warn(f"flavor-below-os-recommended-{what}", f"flavor {flavor.name!r} has {have} "
                   f"{unit}; {os.name} runs poorly below the recommended {recommended} {unit} "
                   f"({need.source})", f"use a flavor with {recommended} {unit} or more")
