"""Rule: cloud guests do not suspend themselves.

A guest that suspends to RAM (S3) or to disk (S4) looks stopped to its users, keeps its host
resources, and often does not wake up: nothing in a cloud presses its power button. libvirt's
``<pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>`` removes S3/S4 from the
guest's ACPI tables (QEMU ``disable_s3``/``disable_s4``; libvirt formatdomain.html#power-management),
so Windows' idle sleep and Linux' ``systemctl suspend`` cannot take the guest away.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context


def decide_suspend(c: Context) -> bool:
    return c.d.decide("suspend", False, "power.no-guest-suspend", "default", None,
                      "suspend-to-RAM and suspend-to-disk are off: a suspended cloud guest looks "
                      "dead and nothing wakes it")
