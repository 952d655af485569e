"""kumo server get-password / clear-password: a Windows server's admin password kept encrypted
for its RSA key pair (Nova's os-server-password), read with the key pair's private half as
``nova get-password SERVER KEYFILE`` does; and what the create/set-password commands say kumo
keeps of a password they show once."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization as ser
from sqlalchemy import update

from kumo.cli.servers import _password_kept
from kumo.compute.context import admin_context
from kumo.compute.passwords import seal_for_key
from kumo.db.models import Instance
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.test_no_traceback import UNREADABLE
from tests.compute.records import add_instance
from tests.compute.test_keys import openssh, pem_private, private

PASSWORD = "S3cret&<]]>'\""  # what XML or a shell would mangle


class _Env:  # what tests.compute.records.add_instance needs of a ComputeEnv
    def __init__(self, db):
        self.db, self.owner = db, "test"


@pytest.fixture
def windows(db, test_host) -> str:
    """A Windows server created with the RSA key pair 'laptop': its password sealed for it."""
    uuid = add_instance(_Env(db), admin_context(), test_host, name="win",
                        props={"os_type": "windows"}, public_key=openssh("rsa2048"))
    with db.session_scope() as s:
        s.execute(update(Instance).where(Instance.uuid == uuid).values(
            key_name="laptop", password_data=seal_for_key(openssh("rsa2048"), PASSWORD)))
    return uuid


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("fmt", [ser.PrivateFormat.OpenSSH, ser.PrivateFormat.TraditionalOpenSSL,
                                 ser.PrivateFormat.PKCS8], ids=["openssh", "pkcs1", "pkcs8"])
def test_the_private_half_opens_the_password(kumo, windows, tmp_path, fmt):
    key = _write(tmp_path, "id_rsa", pem_private("rsa2048", fmt))
    assert kumo("server", "get-password", "win", "--private-key", key) == (0, PASSWORD + "\n", "")


def test_without_a_key_the_password_is_shown_encrypted(kumo, windows, db):
    with db.session_scope(readonly=True) as s:
        sealed = s.query(Instance).filter_by(uuid=windows).one().password_data
    assert kumo("server", "get-password", "win") == (0, sealed + "\n", "")


def _cases(tmp_path):
    other = private("rsa1024").private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH,
                                              ser.NoEncryption()).decode()
    locked = private("rsa2048").private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8,
                                               ser.BestAvailableEncryption(b"pw")).decode()
    return [
        (_write(tmp_path, "other", other),
         "private key '{p}' does not open this server's password: it is not the private half "
         "of the server's key pair"),
        (_write(tmp_path, "pub", openssh("rsa2048")),
         "'{p}' is a public key: allowed the key pair's private half, an OpenSSH or PEM RSA "
         "private key"),
        (_write(tmp_path, "junk", "not a key\n"),
         "'{p}' is not a private key: allowed the key pair's private half, an OpenSSH or PEM "
         "RSA private key"),
        (_write(tmp_path, "locked", locked),
         "private key '{p}' is protected by a passphrase: decrypt it first (ssh-keygen -p -N '' "
         "-f FILE on a copy)"),
        (_write(tmp_path, "ed", pem_private("ed25519", ser.PrivateFormat.OpenSSH)),
         "private key '{p}' is not an RSA key: only RSA can decrypt a Windows admin password"),
        (UNREADABLE, "--private-key '{p}' cannot be read: Input/output error"),
        (str(tmp_path), "--private-key '{p}' is a directory: allowed a regular file"),
    ]


@pytest.mark.parametrize("case", range(7), ids=["another-key", "public-key", "not-a-key",
                                                "passphrase", "ed25519", "unreadable",
                                                "directory"])
def test_a_key_that_cannot_open_it_is_one_line(kumo, windows, tmp_path, case):
    path, message = _cases(tmp_path)[case]
    assert kumo("server", "get-password", "win", "--private-key", path) == (
        2, "", f"kumo: error: {message.format(p=path)}\n")


def test_clear_password_forgets_kumos_copy(kumo, windows):
    assert kumo("server", "clear-password", "win") == (0, "", "")
    assert kumo("server", "get-password", "win") == (
        2, "", "kumo: error: server 'win' has no admin password kept for a key pair: only a "
               "Windows server created with an RSA key pair has one (and kumo server "
               "clear-password forgets it); without one, the password was shown once by the "
               "command that made it (reset it with kumo server set-password)\n")
    assert kumo("server", "clear-password", "nope") == (
        2, "", "kumo: error: server 'nope' not found\n")


@pytest.mark.parametrize("view, line", [
    ({"name": "w", "key_name": None}, "the admin password is shown once: kumo keeps only its hash"),
    ({"name": "w", "key_name": "laptop"},
     "the admin password is shown once: kumo keeps its hash, and a copy encrypted for key pair "
     "'laptop' that only its private half opens (kumo server get-password w --private-key "
     "FILE); the key pair is not installed in the Windows guest"),
], ids=["no-key-pair", "rsa-key-pair"])
def test_what_kumo_keeps_of_a_password_shown_once(view, line):
    assert _password_kept(view) == line
