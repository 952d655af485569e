"""The libvirt <devices> section (https://libvirt.org/formatdomain.html#devices).

One class per device element kumo uses, each attribute declared once. Elements libvirt adds on
define (<address>, <alias>, auto-added controllers, PCI topology) are not modelled and are
ignored when parsing.
"""

from __future__ import annotations

from kumo.backends.libvirt_xml.mapper import (
    INT,
    ON_OFF,
    YES_NO,
    Child,
    Children,
    Flag,
    Prop,
    XmlNode,
)


class Disk(XmlNode):
    """formatdomain.html#hard-drives-floppy-disks-cdroms"""

    tag = "disk"
    type = Prop("@type")  # file | block | network
    device = Prop("@device")  # disk | cdrom | floppy | lun
    driver_name = Prop("driver/@name")  # qemu | phy (Xen) | tap (Xen)
    driver_type = Prop("driver/@type")  # raw | qcow2 | vpc | vhdx | ...
    driver_cache = Prop("driver/@cache")
    driver_discard = Prop("driver/@discard")  # unmap | ignore (libvirt >= 1.0.6)
    driver_packed = Prop("driver/@packed", ON_OFF)  # virtio 1.1 packed virtqueues
    source_file = Prop("source/@file")
    source_dev = Prop("source/@dev")
    target_dev = Prop("target/@dev")
    target_bus = Prop("target/@bus")
    readonly = Flag("readonly")
    boot_order = Prop("boot/@order", INT)


class Controller(XmlNode):
    """formatdomain.html#controllers"""

    tag = "controller"
    type = Prop("@type")  # scsi | virtio-serial | usb | sata | ide | pci | xenbus
    index = Prop("@index", INT)
    model = Prop("@model")
    #: a USB companion controller's first port on its EHCI master (ich9-uhciN)
    master_startport = Prop("master/@startport", INT)


class Interface(XmlNode):
    """formatdomain.html#network-interfaces"""

    tag = "interface"
    type = Prop("@type")  # network | bridge | user | ethernet
    mac = Prop("mac/@address")
    source_network = Prop("source/@network")
    source_bridge = Prop("source/@bridge")
    script = Prop("script/@path")  # Xen vif script
    model = Prop("model/@type")
    driver_name = Prop("driver/@name")
    driver_queues = Prop("driver/@queues", INT)
    driver_packed = Prop("driver/@packed", ON_OFF)
    filterref = Prop("filterref/@filter")


class _CharDevice(XmlNode):
    """Common shape of <serial>, <console> and <channel> (formatdomain.html#character-devices).

    ``type='file'`` writes the guest's output to ``source_path``; ``type='pty'`` allocates a
    pseudo-terminal; ``type='unix'`` a socket (libvirt picks the path when none is given).
    """

    type = Prop("@type")  # pty | file | unix
    source_mode = Prop("source/@mode")
    source_path = Prop("source/@path")
    source_append = Prop("source/@append", ON_OFF)
    target_type = Prop("target/@type")
    target_name = Prop("target/@name")
    target_port = Prop("target/@port", INT)
    log_file = Prop("log/@file")
    log_append = Prop("log/@append", ON_OFF)


class Serial(_CharDevice):
    tag = "serial"


class Console(_CharDevice):
    tag = "console"


class Channel(_CharDevice):
    tag = "channel"


class Input(XmlNode):
    """formatdomain.html#input-devices"""

    tag = "input"
    type = Prop("@type")  # tablet | mouse | keyboard
    bus = Prop("@bus")  # usb | virtio | ps2 | xen


class Graphics(XmlNode):
    """formatdomain.html#graphical-framebuffers"""

    tag = "graphics"
    type = Prop("@type")  # vnc | spice
    port = Prop("@port", INT)
    autoport = Prop("@autoport", YES_NO)
    listen = Prop("@listen")
    #: the VNC password in clear: libvirt shows it only with VIR_DOMAIN_XML_SECURE
    passwd = Prop("@passwd")
    listen_type = Prop("listen/@type")  # address | network | socket | none
    listen_address = Prop("listen/@address")


class Video(XmlNode):
    """formatdomain.html#video-devices"""

    tag = "video"
    model = Prop("model/@type")  # vga | cirrus | qxl | virtio | bochs | none | xen
    vram = Prop("model/@vram", INT)  # KiB
    heads = Prop("model/@heads", INT)
    primary = Prop("model/@primary", YES_NO)


class Tpm(XmlNode):
    """formatdomain.html#tpm-device"""

    tag = "tpm"
    model = Prop("@model")  # tpm-tis | tpm-crb
    backend_type = Prop("backend/@type")  # emulator | passthrough
    backend_version = Prop("backend/@version")  # 1.2 | 2.0


class Watchdog(XmlNode):
    """formatdomain.html#watchdog-devices"""

    tag = "watchdog"
    model = Prop("@model")  # i6300esb | ib700 | itco
    action = Prop("@action")  # reset | shutdown | poweroff | pause | none | dump | inject-nmi


class MemBalloon(XmlNode):
    """formatdomain.html#memory-balloon-device"""

    tag = "memballoon"
    model = Prop("@model")  # virtio | xen | none


class Rng(XmlNode):
    """formatdomain.html#random-number-generator-device"""

    tag = "rng"
    model = Prop("@model")  # virtio
    backend_model = Prop("backend/@model")  # random | egd | builtin
    backend_path = Prop("backend")  # /dev/urandom for model='random'


class Devices(XmlNode):
    """Device lists in libvirt's own output order, so kumo's XML reads like ``virsh dumpxml``."""

    tag = "devices"
    emulator = Prop("emulator")
    disks = Children(Disk)
    controllers = Children(Controller)
    interfaces = Children(Interface)
    serials = Children(Serial)
    consoles = Children(Console)
    channels = Children(Channel)
    inputs = Children(Input)
    tpms = Children(Tpm)
    graphics = Children(Graphics)
    videos = Children(Video)
    watchdogs = Children(Watchdog)
    memballoon = Child(MemBalloon)
    rngs = Children(Rng)
