"""What a server is created with besides image and flavor: a key pair (--key-name; one path with
--key-file onto the config drive; on Windows an RSA key only encrypts the admin password, any
other type is refused with the reason); user data (Nova's size
bound, on the config drive as openstack/latest/user_data); metadata (Nova's limits, the drive's
``meta``, shown by server show); a Windows admin password given at create. A deleted server's
row keeps none of the user's secrets."""

from __future__ import annotations

import base64
import json

import pytest

from kumo.compute import images, keypairs, passwords, servers
from kumo.compute.user_data import MAX_USER_DATA_BYTES, MetadataQuota, user_data_from_bytes
from kumo.db.models import Instance
from kumo.errors import InvalidInput, NotFound
from tests.compute.conftest import count
from tests.compute.fakehost import config_drive_file, fake_cloud
from tests.compute.test_keypairs import KEY
from tests.compute.test_keys import openssh, private

META = "openstack/latest/meta_data.json"
#: kumo.guest.policy.credentials.windows_key_refusal, for an ed25519 key
REFUSAL = ("a Windows guest takes a key pair only to encrypt its admin password (read with nova "
           "get-password or EC2 GetPasswordData), which needs an RSA key, and this key is "
           "{type}: allowed ssh-rsa (kumo keypair create --key-type rsa), or no key pair (the "
           "admin password is then shown once by the command that creates the server)")


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    # a Windows image that says so only through os_distro: the policy's resolution decides
    images.create_image(env, admin, "win", file=image_file, disk_format="qcow2",
                        properties={"os_distro": "windows", "hw_disk_bus": "virtio"},
                        visibility="public")
    yield env, host
    assert host.watch.violations == []


def _meta(host, uuid: str) -> dict:
    return json.loads(config_drive_file(host, uuid, META))


def _row(env, uuid: str) -> Instance:
    with env.db.session_scope(readonly=True) as s:
        row = s.query(Instance).filter_by(uuid=uuid).one()
        s.expunge(row)
    return row


def test_key_name_puts_the_users_key_pair_on_the_config_drive(cloud, alice):
    env, host = cloud
    keypairs.import_key_pair(env, alice, "laptop", KEY)
    uuid = servers.create_server(env, alice, "web", image="linux", flavor="tiny",
                                 key_name="laptop").server["id"]
    meta = _meta(host, uuid)
    assert meta["public_keys"] == {"laptop": KEY}
    assert meta["keys"] == [{"name": "laptop", "type": "ssh", "data": KEY}]
    assert (_row(env, uuid).key_name, _row(env, uuid).public_key) == ("laptop", KEY)
    assert servers.show_server(env, alice, uuid)["key_name"] == "laptop"
    # the server has its copy: deleting the key pair changes nothing on it
    keypairs.delete_key_pair(env, alice, "laptop")
    assert _row(env, uuid).public_key == KEY


def test_key_file_takes_the_same_path(cloud, alice):
    env, host = cloud
    uuid = servers.create_server(env, alice, "web", image="linux", flavor="tiny",
                                 public_key=KEY, key_name="id_ed25519").server["id"]
    assert _meta(host, uuid)["public_keys"] == {"id_ed25519": KEY}


def test_another_users_key_pair_is_not_found_and_nothing_is_recorded(cloud, alice, bob):
    env, host = cloud
    keypairs.import_key_pair(env, bob, "bobs", KEY)
    with pytest.raises(NotFound, match="key pair 'bobs' not found \\(user 'alice'\\)"):
        servers.create_server(env, alice, "web", image="linux", flavor="tiny", key_name="bobs")
    assert count(env.db, Instance) == 0


@pytest.mark.parametrize("kind, type", [("ed25519", "ssh-ed25519"),
                                        ("p256", "ecdsa-sha2-nistp256")], ids=["ed25519", "ecdsa"])
@pytest.mark.parametrize("how", ["key_name", "key_file"])
def test_a_non_rsa_key_on_a_windows_server_is_refused_with_the_reason(cloud, alice, how, kind,
                                                                     type):
    env, host = cloud
    key = openssh(kind)
    keypairs.import_key_pair(env, alice, "laptop", key)
    given = ({"key_name": "laptop"} if how == "key_name" else
             {"public_key": key, "key_name": "id_ed25519"})
    with pytest.raises(InvalidInput) as e:
        servers.create_server(env, alice, "w", image="win", flavor="tiny", **given)
    what = "key pair 'laptop'" if how == "key_name" else "key pair 'id_ed25519'"
    assert str(e.value) == (f"server 'w' boots a Windows image: {what} cannot be used: "
                            + REFUSAL.format(type=type))
    assert count(env.db, Instance) == 0
    assert not [c for c in host.calls if c.op in ("define", "upload_volume")]


def decrypt(kind: str, password_data: str) -> str:
    """What nova get-password and aws ec2 get-password-data do with the private key."""
    from cryptography.hazmat.primitives.asymmetric import padding

    return private(kind).decrypt(base64.b64decode(password_data), padding.PKCS1v15()).decode()


@pytest.mark.parametrize("how", ["key_name", "key_file"])
def test_an_rsa_key_on_a_windows_server_only_encrypts_its_admin_password(cloud, alice, how):
    """The lead's rule: accepted, never installed as an SSH key, the admin password encrypted
    for the key's holder (instances.password_data: os-server-password, GetPasswordData)."""
    env, host = cloud
    key = openssh("rsa2048")
    keypairs.import_key_pair(env, alice, "laptop", key)
    given = ({"key_name": "laptop"} if how == "key_name" else
             {"public_key": key, "key_name": "id_rsa"})
    result = servers.create_server(env, alice, "w", image="win", flavor="tiny", **given)
    uuid = result.server["id"]
    meta = _meta(host, uuid)
    assert meta["admin_pass"] == result.admin_password
    assert "public_keys" not in meta and "keys" not in meta  # never an SSH key
    assert decrypt("rsa2048", _row(env, uuid).password_data) == result.admin_password
    assert result.server["key_name"] == ("laptop" if how == "key_name" else "id_rsa")


def test_a_linux_server_gets_no_password_data_even_with_an_rsa_key(cloud, alice):
    env, host = cloud
    keypairs.import_key_pair(env, alice, "laptop", openssh("rsa2048"))
    uuid = servers.create_server(env, alice, "web", image="linux", flavor="tiny",
                                 key_name="laptop").server["id"]
    assert _meta(host, uuid)["public_keys"] == {"laptop": openssh("rsa2048")}
    assert _row(env, uuid).password_data is None


def test_rebuilding_a_server_with_a_non_rsa_key_onto_windows_is_refused(cloud, alice):
    env, host = cloud
    keypairs.import_key_pair(env, alice, "laptop", KEY)
    uuid = servers.create_server(env, alice, "web", image="linux", flavor="tiny",
                                 key_name="laptop").server["id"]
    with pytest.raises(InvalidInput) as e:
        servers.rebuild_server(env, alice, uuid, image="win")
    assert str(e.value) == (f"cannot rebuild server {uuid!r} from Windows image 'win': it has "
                            "key pair 'laptop', and " + REFUSAL.format(type="ssh-ed25519"))
    assert _row(env, uuid).image_properties["os_type"] == "linux"


def test_rebuilding_a_server_with_an_rsa_key_onto_windows_encrypts_the_password(cloud, alice):
    env, host = cloud
    keypairs.import_key_pair(env, alice, "laptop", openssh("rsa2048"))
    uuid = servers.create_server(env, alice, "web", image="linux", flavor="tiny",
                                 key_name="laptop").server["id"]
    rebuilt = servers.rebuild_server(env, alice, uuid, image="win")
    meta = _meta(host, uuid)
    assert meta["admin_pass"] == rebuilt.admin_password and "public_keys" not in meta
    assert decrypt("rsa2048", _row(env, uuid).password_data) == rebuilt.admin_password


def test_user_data_and_metadata_reach_the_config_drive(cloud, alice, admin):
    env, host = cloud
    cloud_config = b"#cloud-config\nruncmd:\n - echo hi\n\x00\xff binary is fine\n"
    uuid = servers.create_server(
        env, alice, "web", image="linux", flavor="tiny",
        user_data=user_data_from_bytes(cloud_config),
        metadata={"role": "web", "tier:a b.c-d_e": "x" * 255}).server["id"]
    assert config_drive_file(host, uuid, "openstack/latest/user_data") == cloud_config
    assert _meta(host, uuid)["meta"] == {"role": "web", "tier:a b.c-d_e": "x" * 255}
    view = servers.show_server(env, alice, uuid)
    assert view["metadata"] == {"role": "web", "tier:a b.c-d_e": "x" * 255}
    assert "user_data" not in view  # a member's view, as Nova's policy
    assert base64.b64decode(servers.show_server(env, admin, uuid)["user_data"]) == cloud_config


def test_no_user_data_means_no_user_data_file(cloud, alice):
    env, host = cloud
    uuid = servers.create_server(env, alice, "web", image="linux", flavor="tiny").server["id"]
    assert config_drive_file(host, uuid, "openstack/latest/user_data") is None
    assert _meta(host, uuid)["meta"] == {}


def test_user_data_is_bounded_as_novas_base64_limit():
    assert len(user_data_from_bytes(b"x" * MAX_USER_DATA_BYTES)) <= 65535
    with pytest.raises(InvalidInput) as e:
        user_data_from_bytes(b"x" * (MAX_USER_DATA_BYTES + 1))
    assert str(e.value) == ("--user-data is 49150 bytes: allowed at most 49149 bytes (65535 "
                            "characters of base64, the Compute API's limit)")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"user_data": "A" * 65536}, InvalidInput,
     "user_data is 65536 characters: allowed at most 65535 characters of base64"),
    ({"user_data": "not base64!"}, InvalidInput, "user_data is not valid base64"),
    ({"metadata": {f"k{i}": "v" for i in range(129)}}, MetadataQuota,
     "quota exceeded for metadata items: 129 given, allowed at most 128"),
    ({"metadata": {"a/b": "v"}}, InvalidInput,
     "metadata key 'a/b' is invalid: allowed 1 to 255 of the characters A-Z a-z 0-9 - _ : . "
     "space"),
    ({"metadata": {"k": "v" * 256}}, InvalidInput,
     "metadata value of 'k' is 256 characters: allowed at most 255"),
    ({"metadata": {"k": "a\x00b"}}, InvalidInput, "metadata value of 'k' 'a\\x00b' is invalid"),
    ({"admin_password": "s3cret-pass"}, InvalidInput,
     "server 'web': an admin password is set only on Windows guests"),
], ids=["user-data-too-long", "user-data-not-base64", "too-many-items", "bad-key",
        "long-value", "nul-value", "password-on-linux"])
def test_bad_extras_are_refused_and_nothing_is_recorded(cloud, alice, kwargs, error, message):
    env, host = cloud
    with pytest.raises(error) as e:
        servers.create_server(env, alice, "web", image="linux", flavor="tiny", **kwargs)
    assert str(e.value).startswith(message)
    assert count(env.db, Instance) == 0


def test_a_windows_admin_password_given_at_create_is_the_guests(cloud, alice):
    env, host = cloud
    result = servers.create_server(env, alice, "w", image="win", flavor="tiny",
                                   admin_password="Given-Pass-1")
    assert result.admin_password == "Given-Pass-1"
    meta = _meta(host, result.server["id"])
    assert meta["admin_pass"] == "Given-Pass-1" and "public_keys" not in meta
    assert _row(env, result.server["id"]).pending_admin_password is None  # only its hash kept


def test_a_password_given_at_create_is_held_sealed_until_the_build(cloud, alice):
    """Until the build wrote it to the config drive, the given password was in the row in
    plain text (test fails without the sealing)."""
    env, host = cloud
    instance, _host = servers.new_instance(env, alice, "w", image="win", flavor="tiny",
                                           admin_password="Given-Pass-1")
    held = instance.pending_admin_password
    assert held.startswith("sealed:") and "Given-Pass-1" not in held
    assert passwords.open_pending(env, instance.uuid, held) == "Given-Pass-1"
    # another instance's row cannot take it: the uuid is the associated data
    assert passwords.open_pending(env, "another-uuid", held) is None


def test_delete_clears_the_users_secrets_from_the_row(cloud, alice):
    """Issue 8: a deleted instance row kept its public key (a private one, once)."""
    env, host = cloud
    keypairs.import_key_pair(env, alice, "laptop", openssh("ed25519"))
    uuid = servers.create_server(env, alice, "web", image="linux", flavor="tiny",
                                 key_name="laptop",
                                 user_data=user_data_from_bytes(b"password: hunter2")
                                 ).server["id"]
    assert _row(env, uuid).public_key and _row(env, uuid).user_data
    servers.delete_server(env, alice, uuid)
    row = _row(env, uuid)
    assert row.deleted
    assert (row.public_key, row.user_data, row.pending_admin_password) == (None, None, None)
    assert (row.key_name, row.name) == ("laptop", "web")  # the history stays
