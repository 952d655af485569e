"""Key pairs (kumo.compute.keypairs): per user as in Nova, import takes only OpenSSH public keys
(a private key or garbage is refused and nothing is stored), create generates one and hands its
private half back once, Nova's fingerprint, quota, names, paging, admin acting for a user."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization as ser
from sqlalchemy import select

from kumo.compute import keypairs
from kumo.compute.keypairs import KeyPairExists, KeyPairQuota
from kumo.db.models import KeyPair
from kumo.errors import Forbidden, InvalidInput, NotFound
from tests.compute.conftest import count
from tests.compute.test_keys import openssh, pem_private

#: a key made by ssh-keygen -t ed25519, and what `ssh-keygen -l -E md5` printed for it
KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFp622pyz8HoIoE9cE/v5+vMDmZ1VoATYRSKoCScvBsH "
       "alice@laptop")
KEY_MD5 = "a2:61:be:6a:26:ca:c3:bc:7a:ab:e2:75:45:d0:05:9f"


def _rows(env) -> list[tuple[str, str, str]]:
    with env.db.session_scope(readonly=True) as s:
        return [(r.user_id, r.name, r.public_key) for r in
                s.scalars(select(KeyPair).order_by(KeyPair.user_id, KeyPair.name))]


def test_import_records_the_key_with_novas_fingerprint(env, alice):
    info = keypairs.import_key_pair(env, alice, "laptop", f"  {KEY}\n")
    assert (info.name, info.user_id, info.project_id, info.type, info.public_key,
            info.fingerprint) == ("laptop", "alice", "p-alice", "ssh", KEY, KEY_MD5)
    assert keypairs.show_key_pair(env, alice, "laptop") == info


@pytest.mark.parametrize("text, words", [
    (pem_private("ed25519", ser.PrivateFormat.OpenSSH), "is an OpenSSH private key"),
    (pem_private("rsa2048", ser.PrivateFormat.TraditionalOpenSSL),
     "is an RSA private key (PEM)"),
    (pem_private("p256", ser.PrivateFormat.PKCS8), "is a private key (PKCS#8)"),
], ids=["openssh-private", "pem-rsa-private", "pkcs8-private"])
def test_import_refuses_a_private_key_and_stores_nothing(env, alice, text, words):
    with pytest.raises(InvalidInput) as e:
        keypairs.import_key_pair(env, alice, "oops", text)
    assert words in str(e.value) and "which must never leave its owner" in str(e.value)
    assert "PRIVATE" not in str(e.value).split(":")[0]  # what it is, never the content
    assert count(env.db, KeyPair) == 0


@pytest.mark.parametrize("text, message", [
    ("hello world\n", "the public key is not an OpenSSH public key (it starts with 'hello'): "),
    ("ssh-ed25519 bm90IGEga2V5\n", "the public key is a ssh-ed25519 key whose data does not "
                                   "decode (truncated or damaged)"),
    ("", "the public key is empty"),
], ids=["text", "damaged-key", "empty"])
def test_import_refuses_a_file_that_is_no_key_and_stores_nothing(env, alice, text, message):
    with pytest.raises(InvalidInput) as e:
        keypairs.import_key_pair(env, alice, "oops", text)
    assert str(e.value).startswith(message)
    assert count(env.db, KeyPair) == 0


def test_names_are_unique_per_user_not_per_cloud(env, alice, bob):
    keypairs.import_key_pair(env, alice, "mykey", KEY)
    keypairs.import_key_pair(env, bob, "mykey", openssh("ed25519"))
    with pytest.raises(KeyPairExists) as e:
        keypairs.import_key_pair(env, alice, "mykey", openssh("p256"))
    assert str(e.value) == ("key pair 'mykey' already exists (user 'alice'): delete it first "
                            "or choose another name")
    assert e.value.status == 409
    assert [(u, n) for u, n, _ in _rows(env)] == [("alice", "mykey"), ("bob", "mykey")]
    assert keypairs.show_key_pair(env, bob, "mykey").public_key == openssh("ed25519")
    assert [k.name for k in keypairs.list_key_pairs(env, alice)] == ["mykey"]


def test_a_user_sees_only_their_own_and_an_admin_acts_for_a_user(env, alice, bob, admin):
    keypairs.import_key_pair(env, alice, "mine", KEY)
    with pytest.raises(NotFound, match="key pair 'mine' not found \\(user 'bob'\\)"):
        keypairs.show_key_pair(env, bob, "mine")
    with pytest.raises(Forbidden, match="acting on another user's key pairs"):
        keypairs.list_key_pairs(env, bob, user_id="alice")
    with pytest.raises(Forbidden):
        keypairs.delete_key_pair(env, bob, "mine", user_id="alice")
    assert [k.name for k in keypairs.list_key_pairs(env, admin, user_id="alice")] == ["mine"]
    assert keypairs.list_key_pairs(env, admin) == []  # the admin's own
    keypairs.import_key_pair(env, admin, "for-bob", KEY, user_id="bob")
    assert [k.name for k in keypairs.list_key_pairs(env, bob)] == ["for-bob"]
    keypairs.delete_key_pair(env, admin, "mine", user_id="alice")
    assert [(u, n) for u, n, _ in _rows(env)] == [("bob", "for-bob")]


@pytest.mark.parametrize("kind, key_type, bits", [("ed25519", "ssh-ed25519", 256),
                                                  ("rsa", "ssh-rsa", 3072)],
                         ids=["ed25519", "rsa"])
def test_create_generates_and_returns_the_private_half_once(env, alice, kind, key_type, bits):
    created = keypairs.create_key_pair(env, alice, "gen", kind=kind)
    private = ser.load_ssh_private_key(created.private_key.encode(), password=None)
    public_line = private.public_key().public_bytes(ser.Encoding.OpenSSH,
                                                    ser.PublicFormat.OpenSSH).decode()
    assert created.keypair.public_key == f"{public_line} gen"
    assert created.keypair.public_key.startswith(key_type)
    [(user, name, stored)] = _rows(env)
    assert (user, name, stored) == ("alice", "gen", created.keypair.public_key)
    assert "PRIVATE" not in stored
    # only the public half is kept: no column of the row holds the private key
    with env.db.session_scope(readonly=True) as s:
        row = s.scalars(select(KeyPair)).one()
        assert not any(created.private_key.strip() in str(getattr(row, c.key))
                       for c in KeyPair.__table__.columns)


def test_create_refuses_a_taken_name_before_generating(env, alice, monkeypatch):
    keypairs.import_key_pair(env, alice, "taken", KEY)
    monkeypatch.setattr(keypairs, "generate_key", lambda *a, **k: pytest.fail("generated"))
    with pytest.raises(KeyPairExists):
        keypairs.create_key_pair(env, alice, "taken")


@pytest.mark.parametrize("name, words", [
    ("a/b", "(character '/')"), ("", "(0 characters)"), (" lead", "(surrounding spaces)"),
    ("x" * 256, "(256 characters)"), ("tab\there", "(control character U+0009 at position 3)"),
], ids=["slash", "empty", "space", "long", "control"])
def test_bad_names_are_refused(env, alice, name, words):
    with pytest.raises(InvalidInput) as e:
        keypairs.import_key_pair(env, alice, name, KEY)
    assert words in str(e.value)
    assert count(env.db, KeyPair) == 0


def test_names_nova_allows_are_accepted(env, alice):
    for name in ("my key", "me@laptop", "a.b_c-d", "x" * 255):
        keypairs.import_key_pair(env, alice, name, KEY)
    assert count(env.db, KeyPair) == 4


def test_x509_type_is_refused(env, alice):
    with pytest.raises(InvalidInput, match="key pair type 'x509' is invalid: allowed ssh"):
        keypairs.import_key_pair(env, alice, "cert", KEY, key_type="x509")


def test_quota_of_key_pairs_per_user(env, alice, bob, monkeypatch):
    monkeypatch.setattr(keypairs, "MAX_PER_USER", 3)
    for i in range(3):
        keypairs.import_key_pair(env, alice, f"k{i}", KEY)
    with pytest.raises(KeyPairQuota) as e:
        keypairs.import_key_pair(env, alice, "k3", KEY)
    assert str(e.value) == ("quota exceeded: user 'alice' has 3 key pairs, allowed at most 3; "
                            "delete one first")
    keypairs.import_key_pair(env, bob, "k0", KEY)  # per user
    assert keypairs.MAX_PER_USER == 3 and count(env.db, KeyPair) == 4


def test_list_pages_by_name_with_limit_and_marker(env, alice):
    for name in ("c", "a", "d", "b"):
        keypairs.import_key_pair(env, alice, name, KEY)
    assert [k.name for k in keypairs.list_key_pairs(env, alice)] == ["a", "b", "c", "d"]
    assert [k.name for k in keypairs.list_key_pairs(env, alice, limit=2)] == ["a", "b"]
    assert [k.name for k in keypairs.list_key_pairs(env, alice, limit=2, marker="b")] == [
        "c", "d"]
    with pytest.raises(NotFound, match="key pair 'zz' not found"):
        keypairs.list_key_pairs(env, alice, marker="zz")


def test_delete_is_all_or_none(env, alice):
    keypairs.import_key_pair(env, alice, "one", KEY)
    keypairs.import_key_pair(env, alice, "two", KEY)
    with pytest.raises(NotFound, match="key pair 'nope' not found"):
        keypairs.delete_key_pairs(env, alice, ["one", "nope"])
    assert count(env.db, KeyPair) == 2
    keypairs.delete_key_pairs(env, alice, ["one", "two"])
    assert count(env.db, KeyPair) == 0


@pytest.mark.parametrize("kind, header", [("rsa", "-----BEGIN RSA PRIVATE KEY-----"),
                                          ("ed25519", "-----BEGIN PRIVATE KEY-----")],
                         ids=["rsa-pkcs1", "ed25519-pkcs8"])
def test_create_can_hand_out_a_pem_private_key(env, alice, kind, header):
    created = keypairs.create_key_pair(env, alice, "pem", kind=kind, private_format="pem")
    assert created.private_key.startswith(header)
    private = ser.load_pem_private_key(created.private_key.encode(), password=None)
    line = private.public_key().public_bytes(ser.Encoding.OpenSSH,
                                             ser.PublicFormat.OpenSSH).decode()
    assert created.keypair.public_key == f"{line} pem"


def test_an_unknown_private_format_is_refused_before_anything_is_made(env, alice):
    with pytest.raises(InvalidInput, match="private key format 'ppk' is invalid: allowed "
                                           "openssh, pem"):
        keypairs.create_key_pair(env, alice, "x", private_format="ppk")
    assert count(env.db, KeyPair) == 0


@pytest.mark.parametrize("name", ["a\x00b", "x" * 300], ids=["nul", "long"])
def test_a_name_no_key_pair_can_have_is_not_found_without_asking_the_database(env, alice,
                                                                             name):
    """(PostgreSQL refuses a NUL in a query parameter: it must never reach it.)"""
    with pytest.raises(NotFound, match="not found \\(user 'alice'\\)"):
        keypairs.show_key_pair(env, alice, name)
    with pytest.raises(NotFound):
        keypairs.list_key_pairs(env, alice, marker=name)
