"""kumo keypair create/import/list/show/delete, and the key and user-data flags of server
create: what is refused (one line, nothing stored), the private key shown once or written 0600."""

from __future__ import annotations

import stat

import pytest
from cryptography.hazmat.primitives import serialization as ser

from kumo.db.models import Instance, KeyPair
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json
from tests.compute.conftest import count
from tests.compute.test_keypairs import KEY, KEY_MD5
from tests.compute.test_keys import pem_private


def test_import_list_show_delete(kumo, tmp_path):
    pub = tmp_path / "id_ed25519.pub"
    pub.write_text(KEY + "\n")
    code, out, err = kumo("keypair", "import", "laptop", "--public-key", str(pub), "-f", "json")
    assert (code, err) == (0, "")
    shown = as_json(out)
    assert {k: shown[k] for k in ("name", "type", "fingerprint", "public_key", "user_id")} == {
        "name": "laptop", "type": "ssh", "fingerprint": KEY_MD5, "public_key": KEY,
        "user_id": "admin"}
    code, out, _ = kumo("keypair", "list", "-f", "csv")
    assert out.splitlines() == ['"name","fingerprint","type"', f'"laptop","{KEY_MD5}","ssh"']
    code, out, _ = kumo("keypair", "show", "laptop", "-f", "value", "-c", "public_key")
    assert out == KEY + "\n"
    assert kumo("keypair", "delete", "laptop") == (0, "deleted key pair laptop\n", "")
    assert kumo("keypair", "show", "laptop") == (
        2, "", "kumo: error: key pair 'laptop' not found (user 'admin')\n")


def test_import_refuses_a_private_key_and_stores_nothing(kumo, db, tmp_path):
    private = tmp_path / "id_ed25519"
    private.write_text(pem_private("ed25519", ser.PrivateFormat.OpenSSH))
    assert kumo("keypair", "import", "oops", "--public-key", str(private)) == (
        2, "", "kumo: error: --public-key id_ed25519 is an OpenSSH private key, which must "
               "never leave its owner: give its public key (the .pub file; `ssh-keygen -y -f "
               "KEYFILE` prints it)\n")
    assert count(db, KeyPair) == 0


def test_import_refuses_a_file_that_is_no_key_and_stores_nothing(kumo, db, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("remember the milk\n")
    code, out, err = kumo("keypair", "import", "oops", "--public-key", str(notes))
    assert (code, out) == (2, "")
    assert err.startswith("kumo: error: --public-key notes.txt is not an OpenSSH public key "
                          "(it starts with 'remember'): allowed one OpenSSH public key line")
    assert count(db, KeyPair) == 0


def test_create_prints_the_private_key_once(kumo, db):
    code, out, err = kumo("keypair", "create", "gen")
    assert code == 0
    assert out.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert err == ("kumo: the private key is shown once: save it now (kumo keeps only the "
                   "public key)\n")
    private = ser.load_ssh_private_key(out.encode(), password=None)
    line = private.public_key().public_bytes(ser.Encoding.OpenSSH,
                                             ser.PublicFormat.OpenSSH).decode()
    code, shown, _ = kumo("keypair", "show", "gen", "-f", "value", "-c", "public_key")
    assert shown == f"{line} gen\n"


def test_create_writes_the_private_key_0600_and_never_overwrites(kumo, db, tmp_path):
    dest = tmp_path / "gen.pem"
    code, out, err = kumo("keypair", "create", "gen", "--private-key", str(dest), "-f", "json")
    assert (code, err) == (0, "")
    assert as_json(out)["private_key"] == f"written to {dest} (mode 0600)"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    ser.load_ssh_private_key(dest.read_bytes(), password=None)
    before = dest.read_bytes()
    assert kumo("keypair", "create", "other", "--private-key", str(dest)) == (
        2, "", f"kumo: error: --private-key {str(dest)!r} already exists: allowed a new file "
               "(kumo does not overwrite a key file)\n")
    assert dest.read_bytes() == before and count(db, KeyPair) == 1


def test_create_refused_leaves_no_key_file(kumo, db, tmp_path):
    assert kumo("keypair", "create", "gen")[0] == 0
    dest = tmp_path / "again.pem"
    code, _, err = kumo("keypair", "create", "gen", "--private-key", str(dest))
    assert (code, err) == (2, "kumo: error: key pair 'gen' already exists (user 'admin'): "
                              "delete it first or choose another name\n")
    assert not dest.exists()


@pytest.mark.parametrize("args, message", [
    (("--key-name", "k", "--key-file", "x.pub"),
     "--key-name and --key-file both given: allowed one key"),
    (("--metadata", "novalue"), "--metadata 'novalue' is invalid: allowed KEY=VALUE"),
], ids=["two-keys", "bad-metadata"])
def test_server_create_flags_refused(kumo, db, args, message):
    code, out, err = kumo("server", "create", "web", "--image", "i", "--flavor", "f", *args)
    assert (code, out, err) == (2, "", f"kumo: error: {message}\n")
    assert count(db, Instance) == 0


def test_server_create_user_data_too_large(kumo, db, tmp_path):
    big = tmp_path / "user-data"
    big.write_bytes(b"x" * 49150)
    code, out, err = kumo("server", "create", "web", "--image", "i", "--flavor", "f",
                          "--user-data", str(big))
    assert (code, out) == (2, "")
    assert "is larger than 49149 bytes" in err
    assert count(db, Instance) == 0
