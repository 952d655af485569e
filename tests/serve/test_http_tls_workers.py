"""kumo serve's HTTP side: HTTPS with tls_cert_file/tls_key_file (the unmodified openstack
client trusting the certificate), api_workers processes sharing the port, and a bad TLS
setting as one line before anything starts."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kumo.config import Settings
from kumo.errors import ConfigError
from kumo.serve import http
from tests.api.live import start, stop


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_with_the_openstack_client(tmp_path):
    cert, key = self_signed(tmp_path)
    live = start(tmp_path / "tls", {"KUMO_TLS_CERT_FILE": str(cert),
                                    "KUMO_TLS_KEY_FILE": str(key)})
    try:
        assert live.url.startswith("https://")
        r = httpx.get(f"{live.url}/compute/v2.1",
                      verify=ssl.create_default_context(cafile=str(cert)))
        assert r.json()["version"]["version"] == "2.95"
        with pytest.raises(httpx.HTTPError):  # HTTPS only: plain HTTP gets no answer
            httpx.get(live.url.replace("https://", "http://") + "/healthcheck", timeout=5)
        assert isinstance(live.openstack("flavor", "list"), list)
    finally:
        stop(live)


def _listeners(port: int) -> int:
    """Listening TCP sockets on 127.0.0.1:port (/proc/net/tcp: state 0A is LISTEN)."""
    want = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == want and line.split()[3] == "0A")


def test_workers_share_the_port_and_go_with_the_main_process(tmp_path):
    live = start(tmp_path, {"KUMO_API_WORKERS": "3"})
    try:
        port = int(live.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while _listeners(port) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _listeners(port) == 3  # the main process and two workers, SO_REUSEPORT
        token = live.token()
        for _ in range(30):  # a new connection each: the kernel spreads them
            r = httpx.get(f"{live.url}/compute/v2.1/flavors", headers={"X-Auth-Token": token})
            assert r.status_code == 200, r.text
    finally:
        stop(live)
    deadline = time.monotonic() + 30
    while _listeners(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _listeners(port) == 0  # no worker outlives kumo serve


@pytest.mark.parametrize("cert, key, words", [
    ("cert", None, "tls_cert_file is set without its pair"),
    (None, "key", "tls_key_file is set without its pair"),
    ("missing", "key", "tls_cert_file = '{d}/missing.pem' is invalid: allowed a readable PEM"),
    ("key", "cert", "cannot be used"),
], ids=["cert-only", "key-only", "missing-file", "swapped"])
def test_bad_tls_settings_are_one_line(tmp_path, cert, key, words):
    cert_path, key_path = self_signed(tmp_path)
    files = {"cert": str(cert_path), "key": str(key_path), "missing": str(tmp_path / "missing.pem")}
    settings = Settings.from_env({"KUMO_DATA_DIR": str(tmp_path),
                                  **({"KUMO_TLS_CERT_FILE": files[cert]} if cert else {}),
                                  **({"KUMO_TLS_KEY_FILE": files[key]} if key else {})})
    with pytest.raises(ConfigError) as e:
        http.check_tls(settings)
    assert words.format(d=tmp_path) in str(e.value) and "\n" not in str(e.value)


def test_serve_refuses_a_bad_tls_setting_before_starting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
    env.update({"KUMO_DATA_DIR": str(tmp_path), "KUMO_TLS_CERT_FILE": str(tmp_path / "x.pem"),
                "PYTHONPATH": ":".join(sys.path)})
    r = subprocess.run([sys.executable, "-m", "kumo.cli.main", "serve"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [
        "kumo: error: tls_cert_file is set without its pair: set both tls_cert_file and "
        "tls_key_file (HTTPS), or neither (HTTP)"]
