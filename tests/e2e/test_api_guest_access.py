"""Reaching guests through the Compute API on the machine's real libvirtd (qemu:///system, TCG),
driven by the unmodified clients against a live ``kumo serve``:

* ``openstack server create --network NAME --key-name K --user-data FILE --wait``: the probe
  guest gets its reserved address by DHCP from the network's dnsmasq, mounts its config drive
  and prints the authorized key and the user data's sha256 it found there;
* ``openstack console log show`` (os-getConsoleOutput) shows those lines; ``openstack console
  url show`` (remote-consoles) answers the display virsh domdisplay names, and its password
  opens it (RFB handshake);
* a Windows server with an RSA key pair: ``nova get-password SERVER KEYFILE`` decrypts the
  admin password the create answered (the build encrypted it; never installed as a key).

The probe (kumo.tiny_guest) loads virtio_net and the config-drive modules (PIIX IDE, SCSI
CD-ROM, ISO 9660: the cloud kernel has no AHCI, so the probe image asks for machine type pc,
where the CD-ROM is on IDE), then prints::

    KUMO-NET ip=10.x.y.z
    KUMO-KEY ssh-ed25519 AAAA...
    KUMO-USERDATA sha256=<hex>

Everything (database, pool, network, filters, domains) is this module's own, with random names,
removed at the end even when a test fails.
"""

from __future__ import annotations

import hashlib
import secrets
import subprocess
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from kumo.compute import flavors, hosts, images, naming
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.tiny_guest import CONFIG_DRIVE, VIRTIO_NET, insmod_lines
from tests.api.live import start, stop
from tests.e2e.test_consoles import vnc_auth, virsh
from tests.e2e.test_networks import DEBIAN12, URI, net_probe, wait_for
from tests.support.e2e_cloud import add_probe_image, installation_environ, remove_installation

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def init_script(modules: list[tuple[str, bytes]]) -> str:
    return f"""#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
$B mount -t devtmpfs devtmpfs /dev
{insmod_lines(modules)}$B ip link set lo up
$B ip link set eth0 up
$B udhcpc -i eth0 -n -q -t 20 -T 1 -s /bin/udhcpc.sh >/dev/null 2>&1
me=$($B ip -4 -o addr show eth0 | $B sed -n 's/.* inet \\([0-9.]*\\)\\/.*/\\1/p')
echo "KUMO-NET ip=${{me:-none}}"
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/sr0 ] && break; $B sleep 1; done
$B mkdir -p /drive
if $B mount -t iso9660 -o ro /dev/sr0 /drive; then
  d=/drive/openstack/latest
  key=$($B sed -n 's/.*"\\(ssh-[a-z0-9-]* [A-Za-z0-9+\\/=]*\\).*/\\1/p' $d/meta_data.json | $B head -n 1)
  echo "KUMO-KEY ${{key:-none}}"
  if [ -f $d/user_data ]; then
    echo "KUMO-USERDATA sha256=$($B sha256sum $d/user_data | $B cut -d ' ' -f 1)"
  else
    echo "KUMO-USERDATA none"
  fi
else
  echo "KUMO-KEY no-config-drive"
fi
while true; do $B sleep 3600; done
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, system_libvirt):
    base = tmp_path_factory.mktemp("guest-access")
    environ = installation_environ(base)
    env = ComputeEnv.from_env(environ)
    upgrade(env.settings.database_url)
    ctx = admin_context()
    live = None
    try:
        hosts.add_host(env, ctx, "local", URI, virt_type="qemu")
        flavors.create_flavor(env, ctx, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
        probe = net_probe(base, (*VIRTIO_NET, *CONFIG_DRIVE), init_script, "access")
        add_probe_image(env, ctx, probe, "probe", base, visibility="public",
                        hw_machine_type="pc", **DEBIAN12)
        blank = base / "blank.qcow2"  # a Windows guest that finds no OS: it runs all the same
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(blank), "1M"],
                       check=True)
        images.create_image(env, ctx, "windows", file=blank, disk_format="qcow2",
                            properties={"os_type": "windows"}, visibility="public")
        live = start(base, environ)
        yield live, env, system_libvirt, base
    finally:
        if live is not None:
            stop(live)
        remove_installation(env, system_libvirt)


def _key_files(base, kind: str) -> tuple[str, str, str]:
    """(public key file, private key file, public key line) of a new key."""
    key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else \
        rsa.generate_private_key(65537, 2048)
    line = key.public_key().public_bytes(ser.Encoding.OpenSSH,
                                         ser.PublicFormat.OpenSSH).decode()
    pub, pem = base / f"{kind}.pub", base / f"{kind}.pem"
    pub.write_text(line + "\n")
    fmt = ser.PrivateFormat.OpenSSH if kind == "ed25519" else \
        ser.PrivateFormat.TraditionalOpenSSL  # what openssl rsautl reads
    pem.write_bytes(key.private_bytes(ser.Encoding.PEM, fmt, ser.NoEncryption()))
    pem.chmod(0o600)
    return str(pub), str(pem), line


def test_network_key_user_data_and_consoles_through_the_openstack_client(cloud):
    live, env, conn, base = cloud
    octet = 100 + secrets.randbelow(100)
    live.openstack("network", "create", "apinet")
    live.openstack("subnet", "create", "--network", "apinet", "--subnet-range",
                   f"10.{octet}.7.0/28", "apisub")
    pub, _pem, line = _key_files(base, "ed25519")
    live.openstack("keypair", "create", "--public-key", pub, "laptop")
    user_data = b"#cloud-config\nruncmd:\n - echo reached\n"
    (base / "user-data").write_bytes(user_data)

    created = live.openstack("server", "create", "--image", "probe", "--flavor", "tiny",
                             "--network", "apinet", "--key-name", "laptop", "--user-data",
                             str(base / "user-data"), "--wait", "reach1")
    assert created["status"] == "ACTIVE"
    uuid = created["id"]
    shown = live.openstack("server", "show", uuid)
    [address] = shown["addresses"]["apinet"]
    assert address.startswith(f"10.{octet}.7.")

    # the guest got exactly its reserved address by DHCP, and read its config drive
    assert wait_for(env, uuid, r"KUMO-NET ip=\S+") == f"KUMO-NET ip={address}"
    assert wait_for(env, uuid, r"KUMO-KEY .+") == f"KUMO-KEY {line}"
    assert wait_for(env, uuid, r"KUMO-USERDATA \S+") == (
        f"KUMO-USERDATA sha256={hashlib.sha256(user_data).hexdigest()}")

    # os-getConsoleOutput: what the guest printed, through the unmodified client
    log = live.client("openstack", "console", "log", "show", "reach1")
    assert log.returncode == 0, log.stderr
    lines = log.stdout.splitlines()
    assert f"KUMO-NET ip={address}" in lines and f"KUMO-KEY {line}" in lines
    last = live.client("openstack", "console", "log", "show", "--lines", "1", "reach1")
    assert last.stdout.splitlines() == [lines[-1]]

    # remote-consoles: the display virsh names, opened with the password in the URL
    got = live.openstack("console", "url", "show", "reach1")
    url = urlsplit(got["url"])
    display = virsh("domdisplay", naming.domain_name(uuid))  # vnc://127.0.0.1:N
    assert (got["type"], got["protocol"]) == ("novnc", "vnc")
    assert (url.scheme, url.hostname) == ("vnc", "127.0.0.1")
    assert url.port == 5900 + int(display.rsplit(":", 1)[1])
    [password] = parse_qs(url.query)["VncPassword"]
    assert vnc_auth(url.port, password) == ([2], 0)
    assert vnc_auth(url.port, "wrong-pw")[1] == 1
    live.openstack("server", "delete", "--wait", "reach1", json_out=False)


def test_nova_get_password_of_a_windows_server_with_an_rsa_key_pair(cloud):
    live, env, conn, base = cloud
    pub, pem, line = _key_files(base, "rsa")
    live.openstack("keypair", "create", "--public-key", pub, "winkey")
    created = live.openstack("server", "create", "--image", "windows", "--flavor", "tiny",
                             "--key-name", "winkey", "--nic", "none", "--wait", "win1")
    assert created["status"] == "ACTIVE" and created["key_name"] == "winkey"
    admin_pass = created["adminPass"]
    got = live.client("nova", "get-password", "win1", pem)
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == admin_pass
    assert conn.domain_state(naming.domain_name(created["id"])) == "running"
    live.openstack("server", "delete", "--wait", "win1", json_out=False)
