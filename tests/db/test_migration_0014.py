"""Migration 0014 scrubs what earlier versions kept (issue 8): the public key of deleted
instances, a private key stored as an instance's key by ``--key-file`` before the OpenSSH parser
(with a note on the server saying the key is exposed until a rebuild), and any key pair whose
"public" key is a private one. A real public key of a live server stays."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select

from kumo.db import Database, upgrade
from kumo.db.migrate import downgrade
from kumo.db.models import Instance, KeyPair

PUBLIC = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFp622pyz8HoIoE9cE/v5+vMDmZ1VoATYRSKoCScvBsH "
          "alice@laptop")
PRIVATE = ed25519.Ed25519PrivateKey.generate().private_bytes(
    ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, ser.NoEncryption()).decode().strip()
NOTE = ("an earlier kumo stored a private SSH key as this server's key: it was removed from the "
        "record; the server's config drive still carries it until the server is rebuilt -- "
        "treat that key as exposed and replace it")


def _instance(name: str, public_key: str | None, *, deleted: bool = False,
              notes: str | None = None) -> Instance:
    return Instance(name=name, project_id="p", user_id="u", image_properties={}, vcpus=1,
                    ram_mib=256, disk_gib=1, vm_state="deleted" if deleted else "active",
                    deleted=deleted, public_key=public_key, notes=notes,
                    pending_admin_password="pending-1" if deleted else None)


def test_upgrade_scrubs_keys_earlier_versions_kept(empty_db_url):
    upgrade(empty_db_url)
    db = Database(empty_db_url)
    try:
        with db.session_scope() as s:
            s.add_all([_instance("live-public", PUBLIC),
                       _instance("live-private", PRIVATE),
                       _instance("noted-private", PRIVATE, notes="earlier note"),
                       _instance("gone", PUBLIC, deleted=True),
                       _instance("gone-private", PRIVATE, deleted=True),
                       KeyPair(name="ok", user_id="u", project_id="p", public_key=PUBLIC,
                               fingerprint="f"),
                       KeyPair(name="bad", user_id="u", project_id="p", public_key=PRIVATE,
                               fingerprint="f")])
        db.dispose()
        downgrade(empty_db_url, "0013")  # the rows as an earlier version left them
        upgrade(empty_db_url)
        with db.session_scope(readonly=True) as s:
            rows = {i.name: (i.public_key, i.notes, i.pending_admin_password)
                    for i in s.scalars(select(Instance))}
            pairs = sorted(k.name for k in s.scalars(select(KeyPair)))
    finally:
        db.dispose()
    assert rows == {
        "live-public": (PUBLIC, None, None),
        "live-private": (None, NOTE, None),
        "noted-private": (None, f"earlier note; {NOTE}", None),
        "gone": (None, None, None),
        "gone-private": (None, None, None),
    }
    assert pairs == ["ok"]
