"""GetPasswordData over kumo's Windows key-pair rule (kumo.guest.policy.credentials: an RSA
key pair on a Windows server only encrypts its admin password): the answer decrypted with the
key pair's private half (RSA PKCS#1 v1.5, as ``aws ec2 get-password-data --priv-launch-key``
and Nova's ``nova get-password`` decrypt) is the password the EC2-made server's config drive
gives cloudbase-init. On fake hosts; the AWS CLI and boto3 on a real guest are
tests/e2e/test_ec2_servers.py."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from kumo.compute import images
from kumo.ec2.errors import Ec2Error
from tests.compute.fakehost import config_drive_file
from tests.ec2.support import META, NS, as_xml, built as _built, run


@pytest.fixture
def windows(cloud, admin, image_file):
    env, host = cloud
    images.create_image(env, admin, "win", file=image_file, disk_format="qcow2",
                        properties={"os_distro": "windows", "hw_disk_bus": "virtio"},
                        visibility="public")
    return env, host


def _ami(env, ctx, name: str) -> str:
    [image] = [i for i in run(env, ctx, "DescribeImages")["imagesSet"] if i["name"] == name]
    return image["imageId"]


def _launch(env, ctx, image: str, **params) -> str:
    [inst] = run(env, ctx, "RunInstances", ImageId=_ami(env, ctx, image), InstanceType="tiny",
                 MinCount="1", MaxCount="1", **params)["instancesSet"]
    return inst["instanceId"]


def test_decrypted_with_the_private_key_it_is_the_drives_password(windows, alice):
    env, host = windows
    made = run(env, alice, "CreateKeyPair", KeyName="ops")  # RSA, EC2's default
    iid = _launch(env, alice, "win", KeyName="ops")
    view = _built(env, alice, iid)
    assert view["status"] == "ACTIVE", view
    got = run(env, alice, "GetPasswordData", InstanceId=iid)
    assert got["instanceId"] == iid and got["timestamp"]
    private = load_pem_private_key(made["keyMaterial"].encode(), password=None)
    password = private.decrypt(base64.b64decode(got["passwordData"]),
                               padding.PKCS1v15()).decode()
    meta = json.loads(config_drive_file(host, view["id"], META))
    assert password == meta["admin_pass"] and len(password) >= 12
    # the key is never installed on a Windows guest
    assert "public_keys" not in meta and "keys" not in meta
    doc = as_xml("GetPasswordData", got)
    assert doc.findtext("ec2:passwordData", namespaces=NS) == got["passwordData"]


def test_no_key_pair_or_a_linux_instance_has_no_password_data(windows, alice):
    env, _host = windows
    plain_windows = _launch(env, alice, "win")
    linux = _launch(env, alice, "linux")
    for iid in (plain_windows, linux):
        assert _built(env, alice, iid)["status"] == "ACTIVE"
        assert run(env, alice, "GetPasswordData", InstanceId=iid)["passwordData"] == ""


def test_a_key_that_cannot_encrypt_is_refused_for_windows(windows, alice):
    env, _host = windows
    run(env, alice, "CreateKeyPair", KeyName="ed", KeyType="ed25519")
    with pytest.raises(Ec2Error) as e:
        _launch(env, alice, "win", KeyName="ed")
    assert e.value.code == "InvalidParameterValue"
    assert "this key is ssh-ed25519: allowed ssh-rsa" in e.value.message, e.value.message
    assert run(env, alice, "DescribeInstances")["reservationSet"] == []


def test_another_projects_instance_is_not_found(windows, alice, bob):
    env, _host = windows
    run(env, alice, "CreateKeyPair", KeyName="ops")
    iid = _launch(env, alice, "win", KeyName="ops")
    _built(env, alice, iid)
    with pytest.raises(Ec2Error) as e:
        run(env, bob, "GetPasswordData", InstanceId=iid)
    assert e.value.code == "InvalidInstanceID.NotFound"
