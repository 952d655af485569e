"""Rule: the USB host controller, chosen so the guest has a driver for it.

The default pointer is a USB tablet (``devices.decide_pointer``), and a tablet on a controller the
guest cannot drive is no pointer at all. libvirt gives q35 guests a qemu-xhci (USB 3.0)
controller by default, but Windows has no inbox xHCI driver before Windows 8 / Server 2012
(Microsoft's USB 3.0 driver stack first shipped with Windows 8; osinfo-db lists an xHCI
controller first in win-8.xml / win-2k12.xml), so Windows 7 / Server 2008 R2 and older would lose
their tablet there. So kumo names the controller itself:

- the guest drives xHCI (``usb-xhci`` among its drivers): ``qemu-xhci``;
- else, on q35: ``ich9-ehci1`` with its three UHCI companions (the ICH9 USB 2.0 set, which XP
  SP1 and later drive inbox; libvirt formatdomain.html#usb-companion-controller);
- else (pc): ``piix3-uhci``, the i440fx chipset's own USB 1.1 controller (every x86 OS drives it).

Naming the model also keeps it stable across libvirt upgrades (a changed default would be new
hardware to the guest).
"""

from __future__ import annotations

from kumo.guest.policy.context import Context

XHCI, EHCI, UHCI = "qemu-xhci", "ich9-ehci1", "piix3-uhci"


def decide_usb_controller(c: Context) -> str:
    d, machine = c.d, c.chosen["machine"]
    if "usb-xhci" in c.drivers():
        src = c.driver_source("usb-xhci")
        return d.decide("usb.controller", XHCI, "usb.xhci", src[0], src[1],
                        "the guest drives xHCI (USB 3.0): qemu-xhci")
    if "q35" in machine:
        return d.decide("usb.controller", EHCI, "usb.no-xhci", "os", c.os.name,
                        f"{c.os.name} has no inbox xHCI (USB 3.0) driver, so its tablet goes on "
                        "the ICH9 EHCI controller with UHCI companions, not qemu-xhci")
    return d.decide("usb.controller", UHCI, "usb.no-xhci", "os", c.os.name,
                    f"{c.os.name} has no inbox xHCI (USB 3.0) driver; the i440fx chipset's "
                    "PIIX3 UHCI controller")
