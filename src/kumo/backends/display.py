"""The guest's display as libvirt's ``<graphics type='vnc'>``: one answer for the QEMU and the
libxl (Xen) drivers, which read the same element (formatdomain.html#graphical-framebuffers)."""

from __future__ import annotations

import ipaddress

from kumo.backends.libvirt_xml import Domain, Graphics
from kumo.errors import UnsupportedGuest
from kumo.guest.spec import DisplaySpec


def vnc_graphics(display: DisplaySpec, backend: str) -> Graphics:
    """``<graphics type='vnc' port='-1' autoport='yes' passwd=...><listen type='address'
    address=.../>``: libvirt picks a free port from 5900 (qemu.conf remote_display_port_min).
    The listen value must be an IP address (a name would make libvirt resolve it on the host)."""
    if display.type != "vnc":
        raise UnsupportedGuest(f"{backend} backend cannot render display.type="
                               f"{display.type!r}: allowed vnc")
    try:
        ipaddress.ip_address(display.listen)
    except ValueError:
        raise UnsupportedGuest(f"{backend} backend cannot render display.listen="
                               f"{display.listen!r}: allowed an IP address (vnc_listen)") from None
    return Graphics(type="vnc", port=-1, autoport=True, passwd=display.password,
                    listen_type="address", listen_address=display.listen)


#: what ``redact_secrets`` writes instead of a display password
REDACTED = "(hidden)"


def redact_secrets(domain: Domain) -> Domain:
    """``domain`` with every display password replaced by REDACTED, for showing a domain
    (a plan's diff, a log line): the password is in the XML kumo renders, and libvirt shows it
    only with VIR_DOMAIN_XML_SECURE, so a diff of the two would otherwise print it."""
    for g in domain.devices.graphics if domain.devices is not None else ():
        if g.passwd is not None:
            g.passwd = REDACTED
    return domain
