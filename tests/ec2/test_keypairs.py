"""The key-pair actions over kumo's key pairs (kumo.ec2.actions.keypairs): EC2's shapes and
codes, and fingerprints checked against the commands the EC2 user guide gives to verify them
(openssl, ssh-keygen), not against kumo's own arithmetic."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from kumo.compute import keypairs
from kumo.compute.context import RequestContext
from kumo.ec2.errors import Ec2Error
from tests.ec2.support import NS, as_xml, run


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _digest(shell: str) -> str:
    """The colon-hex digest an ``... | openssl sha1 -c`` / ``md5 -c`` pipeline prints."""
    out = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, check=True)
    return out.stdout.strip().rsplit("= ", 1)[1]


def _keygen(tmp_path: Path, kind: str, name: str = "k") -> Path:
    """A key made by ssh-keygen (RSA in PEM, so openssl reads it); its path (.pub beside)."""
    path = tmp_path / name
    args = ["-t", "rsa", "-b", "2048", "-m", "PEM"] if kind == "rsa" else ["-t", kind]
    subprocess.run(["ssh-keygen", "-q", *args, "-N", "", "-C", "me@laptop", "-f", str(path)],
                   check=True)
    return path


def _code(excinfo) -> str:
    return excinfo.value.code


def test_create_rsa_hands_out_pkcs1_pem_and_the_sha1_of_the_private_key(env, alice, tmp_path):
    made = run(env, alice, "CreateKeyPair", KeyName="ec2-made")
    pem = made["keyMaterial"]
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    (tmp_path / "made.pem").write_text(pem)
    (tmp_path / "made.pem").chmod(0o600)  # ssh-keygen reads no private key others can
    # the user guide's check of a key pair EC2 created
    assert made["keyFingerprint"] == _digest(
        f"openssl pkcs8 -in {tmp_path}/made.pem -inform PEM -outform DER -topk8 -nocrypt"
        " | openssl sha1 -c")
    assert made["keyPairId"].startswith("key-") and len(made["keyPairId"]) == 21
    # the stored public half is the private key's, and kumo's other APIs see the key pair
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(tmp_path / "made.pem")],
                             capture_output=True, text=True, check=True).stdout.split()[:2]
    [kp] = keypairs.list_key_pairs(env, alice)
    assert kp.public_key.split()[:2] == derived and kp.name == "ec2-made"
    [shown] = run(env, alice, "DescribeKeyPairs")["keySet"]
    assert (shown["keyName"], shown["keyType"], shown["keyFingerprint"], shown["keyPairId"]) \
        == ("ec2-made", "rsa", made["keyFingerprint"], made["keyPairId"])
    # XML in Amazon's names
    doc = as_xml("CreateKeyPair", made)
    assert doc.findtext("ec2:keyFingerprint", namespaces=NS) == made["keyFingerprint"]
    assert doc.findtext("ec2:keyMaterial", namespaces=NS) == pem


def test_an_imported_rsa_key_shows_the_md5_of_its_der_public_key(env, alice, tmp_path):
    key = _keygen(tmp_path, "rsa")
    want = _digest(f"openssl rsa -in {key} -pubout -outform DER 2>/dev/null | openssl md5 -c")
    line = key.with_suffix(".pub").read_text()
    got = run(env, alice, "ImportKeyPair", KeyName="laptop", PublicKeyMaterial=_b64(line))
    assert got["keyFingerprint"] == want
    assert "keyMaterial" not in got
    # Nova's fingerprint stays what os-keypairs shows (MD5 of the blob, ssh-keygen -E md5)
    nova = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", f"{key}.pub"],
                          capture_output=True, text=True, check=True).stdout.split()[1]
    assert keypairs.show_key_pair(env, alice, "laptop").fingerprint == nova.removeprefix("MD5:")


@pytest.mark.parametrize("export", [
    "ssh-keygen -e -f {pub}",  # RFC 4716
    "ssh-keygen -e -m PKCS8 -f {pub}",  # PEM SubjectPublicKeyInfo
    "ssh-keygen -e -m PKCS8 -f {pub} | openssl pkey -pubin -outform DER",  # DER
    "ssh-keygen -e -m PKCS8 -f {pub} | grep -v -- -----",  # base64 DER
], ids=["rfc4716", "pem", "der", "base64-der"])
def test_import_takes_the_formats_ec2_takes_as_the_same_key(env, alice, tmp_path, export):
    key = _keygen(tmp_path, "rsa")
    material = subprocess.run(["sh", "-c", export.format(pub=f"{key}.pub")],
                              capture_output=True, check=True).stdout
    got = run(env, alice, "ImportKeyPair", KeyName="converted", PublicKeyMaterial=_b64(material))
    assert got["keyFingerprint"] == _digest(
        f"openssl rsa -in {key} -pubout -outform DER 2>/dev/null | openssl md5 -c")
    stored = keypairs.show_key_pair(env, alice, "converted").public_key.split()[:2]
    assert stored == key.with_suffix(".pub").read_text().split()[:2]


def test_ed25519_made_or_imported_shows_openssh_sha256(env, alice, tmp_path):
    key = _keygen(tmp_path, "ed25519")
    got = run(env, alice, "ImportKeyPair", KeyName="ed",
              PublicKeyMaterial=_b64(key.with_suffix(".pub").read_text()))
    openssh = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], capture_output=True,
                             text=True, check=True).stdout.split()[1]
    assert openssh.startswith("SHA256:")
    assert got["keyFingerprint"].rstrip("=") == openssh.removeprefix("SHA256:")
    assert got["keyFingerprint"].endswith("=")  # base64 with its padding, as EC2 shows it
    made = run(env, alice, "CreateKeyPair", KeyName="ed-made", KeyType="ed25519")
    assert made["keyMaterial"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    (tmp_path / "ed-made").write_text(made["keyMaterial"])
    (tmp_path / "ed-made").chmod(0o600)
    printed = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "ed-made")],
                             capture_output=True, text=True, check=True).stdout.split()[1]
    assert made["keyFingerprint"].rstrip("=") == printed.removeprefix("SHA256:")
    types = {k["keyName"]: k["keyType"] for k in run(env, alice, "DescribeKeyPairs")["keySet"]}
    assert types == {"ed": "ed25519", "ed-made": "ed25519"}


def _private_pem(tmp_path: Path) -> str:
    return _keygen(tmp_path, "rsa").read_text()


@pytest.mark.parametrize("action, params, code, words", [
    ("ImportKeyPair", {"PublicKeyMaterial": _b64("ssh-rsa AAAAnotakey")}, "InvalidKey.Format",
     "does not decode"),
    ("ImportKeyPair", {"PublicKeyMaterial": _b64("hello world")}, "InvalidKey.Format",
     "not an OpenSSH public key"),
    ("ImportKeyPair", {"PublicKeyMaterial": _b64("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n")},
     "InvalidKey.Format", "private key"),
    ("ImportKeyPair", {"PublicKeyMaterial": _b64(b"\x30\x82\xff\x00binary")},
     "InvalidKey.Format", "not a DER public key"),
    ("ImportKeyPair", {"PublicKeyMaterial": "!!not base64!!"}, "InvalidParameterValue",
     "BASE64"),
    ("ImportKeyPair", {"PublicKeyMaterial": _b64(
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEez"
        "OmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=")},
     "InvalidKey.Format", "allowed an RSA or ED25519 key"),
    ("ImportKeyPair", {"KeyName": "bad/name", "PublicKeyMaterial": _b64("x")},
     "InvalidParameterValue", "key pair name"),
    ("ImportKeyPair", {}, "MissingParameter", "PublicKeyMaterial"),
    ("CreateKeyPair", {"KeyType": "dsa"}, "InvalidParameterValue", "allowed rsa, ed25519"),
    ("CreateKeyPair", {"KeyFormat": "ppk"}, "InvalidParameterValue", "allowed pem"),
    ("CreateKeyPair", {"TagSpecification.1.ResourceType": "key-pair"}, "UnsupportedOperation",
     "Tags"),
    ("DescribeKeyPairs", {"KeyName.1": "nope"}, "InvalidKeyPair.NotFound", "'nope'"),
    ("DescribeKeyPairs", {"KeyPairId.1": "key-0123456789abcdef0"}, "InvalidKeyPair.NotFound",
     "key-0123456789abcdef0"),
    ("DescribeKeyPairs", {"Filter.1.Name": "colour", "Filter.1.Value.1": "x"},
     "InvalidParameterValue", "colour"),
    ("DeleteKeyPair", {}, "MissingParameter", "KeyName or KeyPairId"),
], ids=["damaged", "garbage", "private-key", "binary", "bad-base64", "ecdsa", "bad-name",
        "no-material", "dsa", "ppk", "tags", "unknown-name", "unknown-id", "unknown-filter",
        "delete-nothing"])
def test_refusals_in_amazons_codes(env, alice, action, params, code, words):
    params = {"KeyName": "k", **params} if action != "DeleteKeyPair" \
        and not action.startswith("Describe") else params
    with pytest.raises(Ec2Error) as e:
        run(env, alice, action, **params)
    assert (e.value.code, e.value.status) == (code, 400) and words in e.value.message, \
        e.value.message
    assert keypairs.list_key_pairs(env, alice) == []


def test_duplicate_and_delete(env, alice, tmp_path):
    line = _keygen(tmp_path, "ed25519").with_suffix(".pub").read_text()
    first = run(env, alice, "ImportKeyPair", KeyName="k", PublicKeyMaterial=_b64(line))
    for action, extra in (("ImportKeyPair", {"PublicKeyMaterial": _b64(line)}),
                          ("CreateKeyPair", {})):
        with pytest.raises(Ec2Error) as e:
            run(env, alice, action, KeyName="k", **extra)
        assert e.value.code == "InvalidKeyPair.Duplicate" and "'k' already exists" in \
            e.value.message
    assert run(env, alice, "DeleteKeyPair", KeyPairId=first["keyPairId"]) == {
        "return": True, "keyPairId": first["keyPairId"]}
    assert keypairs.list_key_pairs(env, alice) == []
    # EC2 answers true for a key pair that is not there
    assert run(env, alice, "DeleteKeyPair", KeyName="k") == {"return": True}


def test_key_pairs_are_the_users_in_every_project_and_no_one_elses(env, alice, bob, tmp_path):
    line = _keygen(tmp_path, "ed25519").with_suffix(".pub").read_text()
    run(env, alice, "ImportKeyPair", KeyName="mine", PublicKeyMaterial=_b64(line))
    elsewhere = RequestContext("alice", "p-elsewhere", ("member",))
    assert [k["keyName"] for k in run(env, elsewhere, "DescribeKeyPairs")["keySet"]] == ["mine"]
    assert run(env, bob, "DescribeKeyPairs")["keySet"] == []
    with pytest.raises(Ec2Error) as e:
        run(env, bob, "DescribeKeyPairs", **{"KeyName.1": "mine"})
    assert e.value.code == "InvalidKeyPair.NotFound"
    run(env, bob, "DeleteKeyPair", KeyName="mine")  # true, and alice's stays
    assert [k.name for k in keypairs.list_key_pairs(env, alice)] == ["mine"]


def test_describe_filters_and_public_key(env, alice, tmp_path):
    lines = {n: _keygen(tmp_path, "ed25519", n).with_suffix(".pub").read_text().strip()
             for n in ("web-1", "web-2", "db")}
    for name, line in lines.items():
        run(env, alice, "ImportKeyPair", KeyName=name, PublicKeyMaterial=_b64(line))
    found = run(env, alice, "DescribeKeyPairs", **{"Filter.1.Name": "key-name",
                                                   "Filter.1.Value.1": "web-*",
                                                   "IncludePublicKey": "true"})["keySet"]
    assert [(k["keyName"], k["publicKey"]) for k in found] == [
        ("web-1", lines["web-1"]), ("web-2", lines["web-2"])]
    fp = found[0]["keyFingerprint"]
    by_fp = run(env, alice, "DescribeKeyPairs", **{"Filter.1.Name": "fingerprint",
                                                   "Filter.1.Value.1": fp})["keySet"]
    assert [k["keyName"] for k in by_fp] == ["web-1"] and by_fp[0]["publicKey"] is None
