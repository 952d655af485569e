"""SSH public keys (issue 8, item 13): only an OpenSSH public key line is accepted, parsed by
cryptography; private keys, other formats, weak and garbage keys are refused with one line that
says what was given (never quoting it), and a refused key reaches no record."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from kumo.compute import servers
from kumo.compute.keys import parse_public_key
from kumo.db.models import Instance
from kumo.errors import InvalidInput
from tests.compute.conftest import count

ALLOWED = ("allowed one OpenSSH public key line 'TYPE BASE64 [COMMENT]', TYPE one of "
           "ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, "
           "sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com, ssh-rsa")
_keys: dict[str, object] = {}


def private(kind: str):
    if kind not in _keys:
        _keys[kind] = {
            "ed25519": ed25519.Ed25519PrivateKey.generate,
            "p256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "p384": lambda: ec.generate_private_key(ec.SECP384R1()),
            "p521": lambda: ec.generate_private_key(ec.SECP521R1()),
            "rsa2048": lambda: rsa.generate_private_key(65537, 2048),
            "rsa1024": lambda: rsa.generate_private_key(65537, 1024),
            "dsa": lambda: dsa.generate_private_key(1024),
        }[kind]()
    return _keys[kind]


def openssh(kind: str, comment: str = "alice@laptop") -> str:
    line = private(kind).public_key().public_bytes(ser.Encoding.OpenSSH,
                                                   ser.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}".strip()


def pem_private(kind: str, fmt) -> str:
    return private(kind).private_bytes(ser.Encoding.PEM, fmt, ser.NoEncryption()).decode()


@pytest.mark.parametrize("kind, key_type, bits", [
    ("ed25519", "ssh-ed25519", 256), ("p256", "ecdsa-sha2-nistp256", 256),
    ("p384", "ecdsa-sha2-nistp384", 384), ("p521", "ecdsa-sha2-nistp521", 521),
    ("rsa2048", "ssh-rsa", 2048),
], ids=["ed25519", "ecdsa-256", "ecdsa-384", "ecdsa-521", "rsa-2048"])
def test_openssh_public_keys_are_accepted(kind, key_type, bits):
    key = parse_public_key(f"  {openssh(kind)}\n")
    assert (key.type, key.bits, key.comment) == (key_type, bits, "alice@laptop")
    assert key.openssh == openssh(kind)
    assert key.fingerprint.startswith("SHA256:") and len(key.fingerprint) == 50


def test_security_key_type_is_accepted():
    line = ("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIKsoL9Ju/"
            "0Gr4VTz7pk8JlvLuYXd/qhY8dqYlXtYX/kHAAAABHNzaDo= yubikey")
    assert parse_public_key(line).type == "sk-ssh-ed25519@openssh.com"


@pytest.mark.parametrize("text, message", [
    (lambda: pem_private("ed25519", ser.PrivateFormat.OpenSSH),
     "SSH key is an OpenSSH private key, which must never leave its owner: give its public key "
     "(the .pub file; `ssh-keygen -y -f KEYFILE` prints it)"),
    (lambda: pem_private("rsa2048", ser.PrivateFormat.TraditionalOpenSSL),
     "SSH key is an RSA private key (PEM), which must never leave its owner: give its public "
     "key (the .pub file; `ssh-keygen -y -f KEYFILE` prints it)"),
    (lambda: pem_private("p256", ser.PrivateFormat.PKCS8),
     "SSH key is a private key (PKCS#8), which must never leave its owner: give its public key "
     "(the .pub file; `ssh-keygen -y -f KEYFILE` prints it)"),
    (lambda: private("p256").public_key().public_bytes(
        ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode(),
     "SSH key is a PEM public key, not in OpenSSH format: convert it with "
     "`ssh-keygen -i -m PKCS8 -f FILE`"),
    (lambda: "---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----",
     "SSH key is an RFC 4716 (SSH2) public key, not in OpenSSH format: convert it with "
     "`ssh-keygen -i -f FILE`"),
    (lambda: openssh("rsa1024"),
     "SSH key is a 1024-bit RSA key: allowed at least 2048 bits (OpenSSH refuses smaller ones); "
     "make a new one with `ssh-keygen -t ed25519`"),
    (lambda: openssh("dsa"),
     f"SSH key is a DSA (ssh-dss) key, which OpenSSH no longer accepts: {ALLOWED}"),
    (lambda: openssh("ed25519") + "\n" + openssh("p256"), f"SSH key has 2 lines: {ALLOWED}"),
    (lambda: "", f"SSH key is empty: {ALLOWED}"),
    (lambda: "hello world", f"SSH key is not an OpenSSH public key (it starts with 'hello'): "
                            f"{ALLOWED}"),
    (lambda: "\x1b[31m AAAA", f"SSH key is not an OpenSSH public key (it starts with "
                              f"'(unreadable)'): {ALLOWED}"),
    (lambda: "ssh-ed25519", f"SSH key has no key data after ssh-ed25519: {ALLOWED}"),
    (lambda: openssh("ed25519", "")[:-10],
     "SSH key is a ssh-ed25519 key whose data does not decode (truncated or damaged): allowed a "
     "key line as ssh-keygen writes it"),
    (lambda: "ssh-rsa " + openssh("ed25519").split()[1],
     "SSH key is a ssh-rsa key whose data does not decode (truncated or damaged): allowed a "
     "key line as ssh-keygen writes it"),
    (lambda: openssh("ed25519", "me\x1b[2Jx"),
     "SSH key's comment has control characters: allowed printable text"),
], ids=["openssh-private", "pem-rsa-private", "pkcs8-private", "pem-public", "rfc4716",
        "rsa-1024", "dsa", "two-keys", "empty", "garbage", "escape-garbage", "no-data",
        "truncated", "type-mismatch", "comment-escapes"])
def test_anything_else_is_refused_saying_what_it_is(text, message):
    with pytest.raises(InvalidInput) as e:
        parse_public_key(text())
    assert str(e.value) == message


def test_a_private_key_never_reaches_a_server_record(env, admin, kvm_host, image_file):
    from kumo.compute import flavors, images

    images.create_image(env, admin, "cirros", file=image_file, disk_format="qcow2")
    flavors.create_flavor(env, admin, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
    secret = pem_private("ed25519", ser.PrivateFormat.OpenSSH)
    with pytest.raises(InvalidInput) as e:
        servers.create_server(env, admin, "web", image="cirros", flavor="tiny",
                              public_key=secret, key_name="id_ed25519")
    assert "OpenSSH private key" in str(e.value) and secret not in str(e.value)
    assert count(env.db, Instance) == 0
    instance, _ = servers.new_instance(env, admin, "web", image="cirros", flavor="tiny",
                                       public_key=openssh("ed25519") + "\n")
    assert instance.public_key == openssh("ed25519")
