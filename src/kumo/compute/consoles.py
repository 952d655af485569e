"""A server's consoles: the serial console's log and the VNC display.

* Serial console. ttyS0 is a pty (``virsh console`` attaches) whose output libvirt's virtlogd
  also appends to the instance's console log, ``<pool>/kumo-<uuid>-console.log`` on its host
  (kumo.backends.kvm.devices.console). ``console_log`` reads it through libvirt's storage API
  (virStorageVolDownload of that file as a volume of kumo's pool): the same for the local
  libvirtd and a remote one (qemu+ssh://...), and kumo needs no shell or file access on the host.
  At most the last ``LOG_MAX_BYTES`` are read: virtlogd rotates the file at its max_size.
* Display. A VNC server on the guest's host, on ``vnc_listen`` (127.0.0.1 by default), at the
  port libvirt picked (autoport, from 5900), behind the guest's own password, which kumo
  generates at create (``new_display_password``) and keeps in the instance record for every
  regenerated domain. ``display`` reads the port from the live domain XML.
"""

from __future__ import annotations

import ipaddress
import secrets
import string
from dataclasses import dataclass

from kumo.backends.libvirt_xml import Domain
from kumo.compute import naming
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import find_server
from kumo.db.models import Host, Instance
from kumo.errors import InvalidInput, NotFound, StateError
from kumo.hosts.uri import is_local

#: VNC authentication keys DES with the first 8 bytes of the password and ignores the rest
#: (RFC 6143, 7.2.2 "VNC Authentication"): 8 random letters and digits, ~47 bits
DISPLAY_PASSWORD_LENGTH = 8
_ALPHABET = string.ascii_letters + string.digits
#: virtlogd's default max_size (virtlogd.conf): the live log file is never larger
LOG_MAX_BYTES = 2 * 1024 * 1024


def new_display_password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(DISPLAY_PASSWORD_LENGTH))


@dataclass(frozen=True)
class Display:
    """Where a running guest's VNC display answers."""

    server: str
    host: str
    #: the address on the host (the configured vnc_listen)
    address: str
    port: int
    password: str | None
    #: False: the address is the host's loopback and the host is not this machine (tunnel)
    reachable_here: bool

    @property
    def url(self) -> str:
        """RFC 7869's vnc URI: the TCP port (``virsh domdisplay`` writes the display number,
        port - 5900, as vncviewer's HOST:N does)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"vnc://{host}:{self.port}"


def _server_on_host(env: ComputeEnv, ctx: RequestContext, ref: str,
                    what: str) -> tuple[Instance, Host]:
    with env.db.session_scope(readonly=True) as s:
        instance = find_server(s, ctx, ref)
        host = s.get(Host, instance.host_id) if instance.host_id else None
        s.expunge_all()
    if host is None:
        raise StateError(f"server {ref!r} has no {what}: it is on no host (its build failed: "
                         f"{instance.fault_reason})")
    return instance, host


def console_log(env: ComputeEnv, ctx: RequestContext, ref: str,
                lines: int | None = None) -> str:
    """The server's serial console output (the last ``lines`` lines; None: all that is kept),
    decoded as UTF-8 with undecodable bytes replaced."""
    if lines is not None and lines < 1:
        raise InvalidInput(f"--lines must be 1 or more, got {lines}")
    instance, host = _server_on_host(env, ctx, ref, "console log")
    volume = naming.volume_name(instance.uuid, naming.CONSOLE)
    try:
        data = env.host(host.uri).read_volume(env.pool_name, volume, LOG_MAX_BYTES)
    except NotFound:
        raise NotFound(f"server {ref!r} has no console output yet: its console log "
                       f"({volume} in pool {env.pool_name!r} on host {host.name!r}) "
                       "is written from the guest's first start") from None
    text = data.decode("utf-8", errors="replace")
    if lines is None:
        return text
    kept = text.splitlines(keepends=True)[-lines:]
    return "".join(kept)


def display(env: ComputeEnv, ctx: RequestContext, ref: str) -> Display:
    """Where the running server's VNC display answers (StateError when it is not running)."""
    instance, host = _server_on_host(env, ctx, ref, "display")
    xml = env.host(host.uri).domain_xml(naming.domain_name(instance.uuid))
    vnc = [g for g in Domain.from_xml(xml).devices.graphics if g.type == "vnc"]
    if not vnc:
        raise StateError(f"server {ref!r} has no VNC display: its domain was defined before "
                         "kumo gave every guest one; hard-reboot it to regenerate the domain")
    port = vnc[0].port
    if port is None or port < 0:
        raise StateError(f"server {ref!r} is not running: its VNC display exists only while "
                         "it runs (kumo server start)")
    address = vnc[0].listen_address or vnc[0].listen or env.settings.vnc_listen
    loopback = ipaddress.ip_address(address).is_loopback
    return Display(server=instance.name, host=host.name, address=address, port=port,
                   password=instance.display_password,
                   reachable_here=is_local(host.uri) or not loopback)
