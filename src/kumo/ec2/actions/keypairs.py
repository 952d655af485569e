"""CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair: the user's key pairs of
kumo.compute.keypairs -- the ones ``kumo keypair`` and the Compute API's os-keypairs show, per
user as in Nova (an EC2 credential acts for its user) -- in EC2's shapes and codes
(InvalidKeyPair.NotFound, InvalidKeyPair.Duplicate, InvalidKey.Format).

* ``keyPairId`` is ``key-`` and 17 hex digits of the sha256 of the owner and the key pair's
  row id: stable, and never the id of another key pair of the user.
* ``keyFingerprint`` as EC2 computes it (its API reference, KeyPairInfo.keyFingerprint, and
  the user guide's commands to check one): an RSA key kumo generated (CreateKeyPair, ``kumo
  keypair create``, os-keypairs without a public key) shows the SHA-1 of its private key as
  PKCS#8 DER, one imported the MD5 of its DER public key; an ED25519 key, made or imported,
  the base64 SHA-256 of its blob (OpenSSH's). Nova's MD5 of the blob stays what os-keypairs
  and ``kumo keypair`` show: each API shows the fingerprint its clients check.
* CreateKeyPair makes an RSA key by default (EC2's default, and the kind a Windows
  instance's password is encrypted with: GetPasswordData) and hands out its private half
  once, an RSA key as PKCS#1 PEM (``BEGIN RSA PRIVATE KEY``, what ``aws ec2 get-password-data
  --priv-launch-key`` reads), an ED25519 one in OpenSSH's format, as EC2 does.
* ImportKeyPair takes what EC2 takes -- an OpenSSH line, RFC 4716, (base64) DER -- of an RSA
  or ED25519 key (EC2 imports no other type), checked as every key kumo stores
  (kumo.compute.keys: RSA of at least 2048 bits, as OpenSSH accepts).
"""

from __future__ import annotations

import hashlib
from typing import Any

from kumo.compute import keypairs as service
from kumo.compute.keys import openssh_line, parse_public_key
from kumo.ec2.call import Call, action
from kumo.ec2.errors import Ec2Error, from_kumo
from kumo.ec2.paging import paged
from kumo.errors import InvalidInput, KumoError, NotFound

FILTERS = ("key-name", "fingerprint", "key-pair-id", "key-type", "tag:", "tag-key",
           "tag-value")
#: EC2's key types (CreateKeyPair KeyType, ImportKeyPair's accepted keys)
KEY_TYPES = {"ssh-rsa": "rsa", "ssh-ed25519": "ed25519"}
FORMAT_ERROR = "Key is not in valid OpenSSH public key format"


def key_pair_id(kp: service.KeyPairInfo) -> str:
    return "key-" + hashlib.sha256(f"{kp.user_id}/{kp.id}".encode()).hexdigest()[:17]


def key_type(kp: service.KeyPairInfo) -> str:
    """rsa / ed25519 (EC2's names); another type kumo took (ECDSA, through os-keypairs) by
    its SSH name."""
    algo = kp.public_key.split(" ", 1)[0]
    return KEY_TYPES.get(algo, algo)


def fingerprint(kp: service.KeyPairInfo) -> str:
    """EC2's fingerprint of the key pair (see the module docstring)."""
    key = parse_public_key(kp.public_key)
    if key.type == "ssh-rsa":
        return kp.private_fingerprint or key.der_md5_fingerprint
    return key.sha256_base64


def _not_found(name: str) -> Ec2Error:
    return Ec2Error("InvalidKeyPair.NotFound", f"The key pair '{name[:255]}' does not exist")


def _refused(e: KumoError, name: str) -> Ec2Error:
    if isinstance(e, service.KeyPairExists):
        return Ec2Error("InvalidKeyPair.Duplicate", f"The keypair '{name[:255]}' already exists.")
    if isinstance(e, service.KeyPairQuota):
        return Ec2Error("ResourceLimitExceeded", str(e))
    if isinstance(e, NotFound):
        return _not_found(name)
    return from_kumo(e)


def _no_tags(call: Call) -> None:
    if any(k.startswith("TagSpecification.") for k in call.params.values):
        raise Ec2Error("UnsupportedOperation", "Tags on key pairs are not supported by this "
                       "cloud: allowed no TagSpecification")


def _info(kp: service.KeyPairInfo) -> dict[str, Any]:
    return {"keyName": kp.name, "keyFingerprint": fingerprint(kp),
            "keyPairId": key_pair_id(kp)}


@action("CreateKeyPair", ("KeyName", "KeyType", "KeyFormat", "TagSpecification"),
        mutating=True)
def create_key_pair(call: Call) -> dict[str, Any]:
    p = call.params
    name = p.required("KeyName")
    kind = p.get("KeyType", "rsa")
    if kind not in KEY_TYPES.values():
        raise Ec2Error("InvalidParameterValue", f"Invalid value '{kind[:40]}' for KeyType: "
                       f"allowed {', '.join(KEY_TYPES.values())}")
    key_format = p.get("KeyFormat", "pem")
    if key_format != "pem":
        raise Ec2Error("InvalidParameterValue", f"Invalid value '{key_format[:40]}' for "
                       "KeyFormat: allowed pem (PuTTY's ppk is not made by this cloud)")
    _no_tags(call)
    try:
        made = service.create_key_pair(call.env, call.ctx, name, kind=kind,
                                       private_format="pem" if kind == "rsa" else "openssh")
    except KumoError as e:
        raise _refused(e, name) from None
    return {**_info(made.keypair), "keyMaterial": made.private_key}


@action("ImportKeyPair", ("KeyName", "PublicKeyMaterial", "TagSpecification"), mutating=True)
def import_key_pair(call: Call) -> dict[str, Any]:
    p = call.params
    name = p.required("KeyName")
    p.required("PublicKeyMaterial")
    _no_tags(call)
    material = p.base64("PublicKeyMaterial") or b""
    try:
        service.check_key_name(name)
        line = openssh_line(material, "PublicKeyMaterial")
        key = parse_public_key(line, "PublicKeyMaterial")
    except InvalidInput as e:
        if "key pair name" in str(e):
            raise from_kumo(e) from None
        raise Ec2Error("InvalidKey.Format", f"{FORMAT_ERROR}: {e}") from None
    if key.type not in KEY_TYPES:
        raise Ec2Error("InvalidKey.Format", f"{FORMAT_ERROR}: PublicKeyMaterial is a "
                       f"{key.type} key: allowed an RSA or ED25519 key (the types EC2 "
                       "imports)")
    try:
        kp = service.import_key_pair(call.env, call.ctx, name, key.openssh,
                                     what="PublicKeyMaterial")
    except KumoError as e:
        raise _refused(e, name) from None
    return _info(kp)


@action("DescribeKeyPairs", ("KeyName", "KeyPairId", "Filter", "IncludePublicKey",
                             "MaxResults", "NextToken"))
def describe_key_pairs(call: Call) -> dict[str, Any]:
    p = call.params
    names, pair_ids = p.strings("KeyName"), p.strings("KeyPairId")
    filters = p.filters(FILTERS)
    include_key = p.boolean("IncludePublicKey")
    rows = service.list_key_pairs(call.env, call.ctx)
    have_ids = {key_pair_id(kp) for kp in rows}
    for name in names:
        if name not in {kp.name for kp in rows}:
            raise _not_found(name)
    for pid in pair_ids:
        if pid not in have_ids:
            raise Ec2Error("InvalidKeyPair.NotFound",
                           f"The key pair ID '{pid[:64]}' does not exist")
    items = []
    for kp in rows:
        view = {**_info(kp), "keyType": key_type(kp),
                "createTime": kp.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                if kp.created_at else None,
                "publicKey": kp.public_key if include_key else None, "tagSet": []}
        if (names and kp.name not in names) or (pair_ids and view["keyPairId"] not in pair_ids):
            continue
        if (filters.match("key-name", kp.name)
                and filters.match("fingerprint", view["keyFingerprint"])
                and filters.match("key-pair-id", view["keyPairId"])
                and filters.match("key-type", view["keyType"]) and filters.tags({})):
            items.append(view)
    page = paged(p, "DescribeKeyPairs", items, lambda v: [v["keyName"]])
    return {"keySet": page.items, "nextToken": page.next_token}


@action("DeleteKeyPair", ("KeyName", "KeyPairId"), mutating=True)
def delete_key_pair(call: Call) -> dict[str, Any]:
    """EC2 answers true for a key pair that does not exist (deleting is idempotent); so does
    kumo. Instances launched with the key pair keep their copy of the key."""
    p = call.params
    name, pid = p.get("KeyName"), p.get("KeyPairId")
    if not name and not pid:
        raise Ec2Error("MissingParameter", "The request must contain the parameter KeyName "
                                           "or KeyPairId")
    for kp in service.list_key_pairs(call.env, call.ctx):
        if (name and kp.name == name) or (pid and key_pair_id(kp) == pid):
            try:
                service.delete_key_pair(call.env, call.ctx, kp.name)
            except NotFound:  # deleted meanwhile: gone all the same
                pass
            return {"return": True, "keyPairId": key_pair_id(kp)}
    return {"return": True}
