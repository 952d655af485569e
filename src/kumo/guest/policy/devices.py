"""Rules: NIC, video, pointer, RNG, watchdog and the QEMU guest agent channel.

NIC (Nova hw_vif_model): virtio when the guest has virtio-net; Windows without it gets the Intel
NIC its inbox driver handles — e1000e (82574L) on q35, e1000 (82540EM) on pc (libosinfo's device
lists for Windows 7 and later name both).
Video: Windows ships no virtio-gpu or QXL driver, so it gets standard VGA (Microsoft Basic
Display); Linux with virtio-gpu gets virtio.
Display: every guest gets a VNC display on its host, listening on the configured address
(127.0.0.1 by default, as Nova's [vnc]server_listen), behind the guest's own password, so a
Windows logon screen or a blue screen can be seen; the video model above is what it shows.
Pointer: a USB tablet (absolute positioning) by default, as Nova's pointer_model=usbtablet.
Guest agent: seed 001's operators hand-inserted image_hw_qemu_guest_agent into Nova's database to
get monitoring; hw_qemu_guest_agent=yes adds the org.qemu.guest_agent.0 virtio-serial channel.
"""

from __future__ import annotations

from dataclasses import replace

from kumo.guest.policy.context import Context
from kumo.guest.spec import DisplaySpec, NicSpec

#: the driver a NIC model needs in the guest
NIC_DRIVER = {"virtio": "virtio-net", "e1000": "e1000", "e1000e": "e1000e",
              "rtl8139": "rtl8139"}


def decide_nic(c: Context) -> NicSpec:
    d, hc = c.d, c.req.host_config
    q35 = "q35" in c.chosen["machine"]
    drivers = c.drivers()
    if "hw_vif_model" in c.props:
        model = c.props.get("hw_vif_model")
        name, given = c.prop("hw_vif_model")
        d.decide("nics.0.model", model, "nic.explicit", name, given,
                 "hw_vif_model is set on the image")
        driver = NIC_DRIVER.get(model)
        if driver and driver not in drivers and (c.declared_drivers() is not None
                                                 or c.os.family == "windows"):
            d.warn("nic-driver-missing", f"hw_vif_model={model} needs the {driver} driver, "
                   f"which {c.os.name} does not ship and the image does not declare: the "
                   "guest will have no network", f"carry the {driver} driver and declare it "
                   "in kumo_guest_drivers, or change hw_vif_model")
    elif "virtio-net" in drivers:
        src = c.driver_source("virtio-net")
        model = d.decide("nics.0.model", "virtio", "nic.virtio", src[0], src[1],
                         "the guest has the virtio-net driver")
    else:
        for model in (["e1000e", "e1000"] if q35 else ["e1000"]) + ["rtl8139"]:
            if model in drivers:
                break
        else:
            model = "e1000e" if q35 else "e1000"
        d.decide("nics.0.model", model, "nic.inbox-driver", "os", c.os.name,
                 f"no virtio-net driver: {model}, which {c.os.name}'s inbox driver handles, "
                 f"on {c.chosen['machine']}")
    return NicSpec(model=model, network=hc.network, bridge=hc.bridge)


def attach_nics(c: Context, nic: NicSpec) -> tuple[NicSpec, ...]:
    """The decided NIC (model, queues) on each of the request's attachments (its ports), in
    order; without attachments the one NIC of the host config."""
    if c.req.nics is None:
        return (nic,)
    return tuple(replace(nic, network=a.network, bridge=a.bridge, mac=a.mac, filter=a.filter)
                 for a in c.req.nics)


def decide_video(c: Context) -> tuple[str, int | None]:
    d = c.d
    vram = c.props.get("hw_video_ram")
    if vram is not None:
        name, given = c.prop("hw_video_ram")
        d.decide("video.vram", vram, "video.ram-explicit", name, given, "hw_video_ram is set")
    if "hw_video_model" in c.props:
        name, given = c.prop("hw_video_model")
        return d.decide("video.model", c.props.get("hw_video_model"), "video.explicit", name,
                        given, "hw_video_model is set on the image"), vram
    if "virtio-gpu" in c.drivers():
        src = c.driver_source("virtio-gpu")
        return d.decide("video.model", "virtio", "video.virtio", src[0], src[1],
                        "the guest has the virtio-gpu driver"), vram
    return d.decide("video.model", "vga", "video.vga", "os", c.os.name,
                    f"{c.os.name} has no virtio-gpu driver; standard VGA works everywhere"), vram


def decide_display(c: Context) -> DisplaySpec:
    """A VNC display on ``host_config.vnc_listen`` with the request's password. The password is
    deliberately not in the decision: ``kumo explain`` output is shown and stored freely."""
    listen = c.req.host_config.vnc_listen
    guarded = "with the guest's own password" if c.req.display_password else "without a password"
    c.d.decide("display", f"vnc {listen}", "display.vnc", "default", None,
               f"every guest gets a VNC display listening on {listen} on its host, {guarded}, "
               "so its screen (a Windows logon screen, a blue screen) can be seen")
    return DisplaySpec(type="vnc", listen=listen, password=c.req.display_password)


def decide_pointer(c: Context) -> tuple[str, str]:
    d = c.d
    bus = c.props.get("hw_input_bus")
    if bus:
        name, given = c.prop("hw_input_bus")
        d.decide("input.bus", bus, "input.bus-explicit", name, given, "hw_input_bus is set")
        if bus == "virtio" and "virtio-input" not in c.drivers():
            d.warn("input-driver-missing", f"hw_input_bus=virtio needs the virtio-input driver, "
                   f"which {c.os.name} lacks", "remove hw_input_bus or use usb")
    else:
        bus = d.decide("input.bus", "usb", "input.bus-default", "default", None,
                       "USB input devices work in every guest")
    if "hw_pointer_model" in c.props:
        name, given = c.prop("hw_pointer_model")
        d.decide("input.pointer", "tablet", "input.pointer-explicit", name, given,
                 "hw_pointer_model=usbtablet: an absolute-position tablet")
    else:
        d.decide("input.pointer", "tablet", "input.pointer-default", "default", None,
                 "a tablet keeps the console pointer in sync (Nova pointer_model=usbtablet)")
    return "tablet", bus


def decide_extras(c: Context) -> dict:
    """RNG, watchdog, guest agent, hidden hypervisor id and boot menu: each a plain switch."""
    d, out = c.d, {}
    if "hw_rng_model" in c.props:
        name, given = c.prop("hw_rng_model")
        out["rng"] = d.decide("rng", "virtio", "rng.explicit", name, given,
                              "hw_rng_model=virtio: a virtio RNG fed from the host's "
                              "/dev/urandom")
    action = c.props.get("hw_watchdog_action")
    if action and action != "disabled":
        name, given = c.prop("hw_watchdog_action")
        out["watchdog_action"] = d.decide("watchdog", action, "watchdog.explicit", name, given,
                                          f"an i6300esb watchdog that will {action} the guest")
    if c.props.get("hw_qemu_guest_agent"):
        name, given = c.prop("hw_qemu_guest_agent")
        out["guest_agent"] = d.decide("guest_agent", True, "guest-agent.explicit", name, given,
                                      "the image runs qemu-guest-agent: add its virtio-serial "
                                      "channel org.qemu.guest_agent.0")
    elif c.windows:
        d.info("guest-agent-off", "hw_qemu_guest_agent is not set: no guest agent channel, so "
               "no quiesced snapshots, password set or in-guest monitoring",
               "install qemu-guest-agent in the image and set hw_qemu_guest_agent=yes")
    if c.props.get("img_hide_hypervisor_id"):
        name, given = c.prop("img_hide_hypervisor_id")
        out["hide_hypervisor_id"] = d.decide("hide_hypervisor_id", True, "hide-hv-id.explicit",
                                             name, given, "hide the KVM signature from the "
                                             "guest (some GPU drivers refuse to run in a VM)")
    if c.props.get("hw_boot_menu"):
        name, given = c.prop("hw_boot_menu")
        out["boot_menu"] = d.decide("boot_menu", True, "boot-menu.explicit", name, given,
                                    "hw_boot_menu is set")
    return out


def decide_serial_ports(c: Context) -> int:
    """hw_serial_port_count (Nova): serial ports the guest has; port 0 carries the console."""
    if "hw_serial_port_count" not in c.props:
        return 1
    name, given = c.prop("hw_serial_port_count")
    count = c.props.get("hw_serial_port_count")
    return c.d.decide("serial_ports", count, "serial.count-explicit", name, given,
                      f"{count} serial ports; the first carries the console")
