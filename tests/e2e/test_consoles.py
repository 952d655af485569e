"""A kumo server's consoles on the machine's real libvirtd (qemu:///system, TCG): its serial
console is a pty (``virsh ttyconsole`` names it, so ``virsh console`` attaches) whose output
``kumo server console log`` shows; its VNC display answers where ``virsh domdisplay`` and
``kumo server console url`` say, on 127.0.0.1, and takes the server's password and no other
(RFB handshake, RFC 6143, done here by hand).

Reuses the lifecycle module's cloud (its own database, image store and pool; removed after)."""

from __future__ import annotations

import socket
import struct
import subprocess

import pytest

from kumo.cli.demo import GUEST_MARK
from kumo.compute import naming, servers
from kumo.db.models import Instance
from tests.e2e.test_lifecycle import Cloud, _guest_line, cloud  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def virsh(*args: str) -> str:
    return subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True,
                          text=True, check=True).stdout.strip()


def _des_key(password: str) -> bytes:
    """VNC authentication's DES key: the password's first 8 bytes, zero-padded, each byte's bits
    reversed (RFC 6143 7.2.2 leaves this out; every VNC implementation does it)."""
    raw = password.encode("latin-1")[:8].ljust(8, b"\0")
    return bytes(int(f"{b:08b}"[::-1], 2) for b in raw)


def vnc_auth(port: int, password: str) -> tuple[list[int], int]:
    """(security types the server offers, SecurityResult: 0 ok, 1 failed) for ``password``."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rb")
        assert f.read(12).startswith(b"RFB 003.")
        s.sendall(b"RFB 003.008\n")
        count = f.read(1)[0]
        types = list(f.read(count))
        if 2 not in types:
            return types, -1
        s.sendall(b"\x02")
        challenge = f.read(16)
        key = _des_key(password)
        enc = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # 3DES(k,k,k) = DES(k)
        s.sendall(enc.update(challenge) + enc.finalize())
        (result,) = struct.unpack(">I", f.read(4))
        return types, result


def test_console_log_pty_and_vnc_display(cloud: Cloud) -> None:  # noqa: F811 - the fixture
    env, ctx = cloud.env, cloud.ctx
    uuid = servers.create_server(env, ctx, "consoles", image="linux",
                                 flavor="tiny").server["id"]
    domain = naming.domain_name(uuid)
    line = _guest_line(cloud, uuid)  # the guest booted and wrote to ttyS0

    # the serial console: logged, and a pty virsh console attaches to
    shown = cloud.kumo("server", "console", "log", "consoles")
    assert shown.returncode == 0, shown.stderr
    assert line in shown.stdout.splitlines()
    last = cloud.kumo("server", "console", "log", "consoles", "--lines", "1")
    assert last.stdout.startswith(f"{GUEST_MARK} rtc="), last.stdout
    assert len(last.stdout.splitlines()) == 1
    assert virsh("ttyconsole", domain).startswith("/dev/pts/")

    # the display: VNC on 127.0.0.1 behind the server's own password
    display = virsh("domdisplay", domain)  # vnc://127.0.0.1:N, N the display (port - 5900)
    assert display.startswith("vnc://127.0.0.1:"), display
    port = 5900 + int(display.rsplit(":", 1)[1])
    url = cloud.kumo("server", "console", "url", "consoles", "--password")
    assert url.returncode == 0, url.stderr
    with env.db.session_scope(readonly=True) as s:
        password = s.query(Instance).filter_by(uuid=uuid).one().display_password
    # kumo writes the TCP port, as the vnc URI scheme does (RFC 7869)
    assert url.stdout.splitlines() == [f"vnc://127.0.0.1:{port}", f"password: {password}"]
    assert vnc_auth(port, password) == ([2], 0)  # VNC authentication only; the password works
    assert vnc_auth(port, "wrong-pw")[1] == 1
    servers.delete_server(env, ctx, uuid)
