"""RunInstances over the create path ``kumo server create`` takes (kumo.ec2.actions.run), on
fake hosts: KeyName, UserData and SubnetId reach the EC2-made server's config drive (read back
from the ISO the build uploaded), ClientToken makes a launch idempotent, and refusals leave
nothing behind."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from kumo.compute import keypairs, networks, servers
from kumo.db.models import Ec2ClientToken, Instance, Port
from kumo.ec2.errors import Ec2Error
from tests.compute.fakehost import config_drive_file
from tests.compute.test_keypairs import KEY
from tests.ec2.support import META, built as _built, run

USER_DATA = b"#cloud-config\nruncmd:\n  - echo hello from ec2\n"


def _serial_builds_journaled(host) -> None:
    """Every host call of a build was journaled first (tests.compute.fakehost.JournalWatch,
    which checks builds one at a time: only where one instance is launched at once)."""
    assert host.watch.violations == []


def _ami(env, ctx, name="linux") -> str:
    [image] = [i for i in run(env, ctx, "DescribeImages")["imagesSet"] if i["name"] == name]
    return image["imageId"]


def _launch(env, ctx, **params) -> dict:
    params = {"ImageId": _ami(env, ctx), "InstanceType": "tiny", "MinCount": "1",
              "MaxCount": "1", **params}
    return run(env, ctx, "RunInstances", **params)


def _count(env, model) -> int:
    """Rows of ``model``; of instances, those not deleted."""
    where = [Instance.deleted.is_(False)] if model is Instance else []
    with env.db.session_scope(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_key_name_and_user_data_reach_the_config_drive(cloud, alice):
    env, host = cloud
    keypairs.import_key_pair(env, alice, "laptop", KEY)
    r = _launch(env, alice, KeyName="laptop", UserData=base64.b64encode(USER_DATA).decode())
    [inst] = r["instancesSet"]
    assert inst["keyName"] == "laptop"
    view = _built(env, alice, inst["instanceId"])
    assert view["status"] == "ACTIVE", view
    meta = json.loads(config_drive_file(host, view["id"], META))
    assert meta["public_keys"] == {"laptop": KEY}
    assert meta["keys"] == [{"name": "laptop", "type": "ssh", "data": KEY}]
    assert meta["name"] == inst["instanceId"]
    assert config_drive_file(host, view["id"], "openstack/latest/user_data") == USER_DATA
    # kept as the Compute API keeps it (base64), shown the same
    with env.db.session_scope(readonly=True) as s:
        row = s.scalars(select(Instance).where(Instance.uuid == view["id"])).one()
        assert base64.b64decode(row.user_data) == USER_DATA
    _serial_builds_journaled(host)


def test_the_ec2_drive_equals_the_cli_drive_of_the_same_request(cloud, alice):
    env, host = cloud
    keypairs.import_key_pair(env, alice, "laptop", KEY)
    [inst] = _launch(env, alice, KeyName="laptop",
                     UserData=base64.b64encode(USER_DATA).decode())["instancesSet"]
    ec2 = _built(env, alice, inst["instanceId"])
    cli = servers.create_server(env, alice, "cli", image="linux", flavor="tiny",
                                key_name="laptop",
                                user_data=base64.b64encode(USER_DATA).decode()).server
    drives = []
    for view in (ec2, cli):
        meta = json.loads(config_drive_file(host, view["id"], META))
        for identity in ("uuid", "name", "hostname"):
            meta.pop(identity)
        drives.append((meta, config_drive_file(host, view["id"], "openstack/latest/user_data"),
                       config_drive_file(host, view["id"],
                                         "openstack/latest/network_data.json")))
    assert drives[0] == drives[1]
    _serial_builds_journaled(host)


def test_subnet_id_puts_the_nic_on_that_network(cloud, alice):
    env, host = cloud
    networks.create_network(env, alice, "front", subnet="10.20.0.0/24")
    back = networks.create_network(env, alice, "back", subnet="10.21.0.0/24")
    [sn_front, sn_back] = sorted(run(env, alice, "DescribeSubnets")["subnetSet"],
                                 key=lambda v: v["cidrBlock"])
    assert (sn_back["cidrBlock"], sn_back["tagSet"]) == ("10.21.0.0/24",
                                                         [{"key": "Name", "value": "back"}])
    assert sn_back["subnetId"].startswith("subnet-") and sn_back["availableIpAddressCount"] == 253
    # several networks and no SubnetId: which one is not guessed
    with pytest.raises(Ec2Error) as e:
        _launch(env, alice)
    assert e.value.code == "MissingParameter" and sn_back["subnetId"] in e.value.message
    r = _launch(env, alice, SubnetId=sn_back["subnetId"], PrivateIpAddress="10.21.0.50")
    [inst] = r["instancesSet"]
    assert (inst["subnetId"], inst["privateIpAddress"], inst["vpcId"]) == (
        sn_back["subnetId"], "10.21.0.50", sn_back["vpcId"])
    view = _built(env, alice, inst["instanceId"])
    assert view["status"] == "ACTIVE" and view["addresses"] == {"back": ["10.21.0.50"]}
    doc = json.loads(config_drive_file(host, view["id"], "openstack/latest/network_data.json"))
    assert [n["network_id"] for n in doc["networks"]] == [back["id"]]
    # the subnet id is stable: the same again, and DescribeInstances shows it
    assert run(env, alice, "DescribeSubnets", **{"SubnetId.1": sn_back["subnetId"]})[
        "subnetSet"][0]["cidrBlock"] == "10.21.0.0/24"
    [res] = run(env, alice, "DescribeInstances", **{"InstanceId.1": inst["instanceId"]})[
        "reservationSet"]
    assert res["instancesSet"][0]["subnetId"] == sn_back["subnetId"]
    assert sn_front["availableIpAddressCount"] == 253
    _serial_builds_journaled(host)


def test_another_projects_subnet_is_not_found(cloud, alice, bob):
    env, _host = cloud
    networks.create_network(env, bob, "bobs", subnet="10.30.0.0/24")
    [bobs] = run(env, bob, "DescribeSubnets")["subnetSet"]
    assert run(env, alice, "DescribeSubnets")["subnetSet"] == []
    with pytest.raises(Ec2Error) as e:
        _launch(env, alice, SubnetId=bobs["subnetId"])
    assert e.value.code == "InvalidSubnetID.NotFound"
    assert _count(env, Instance) == 0


@pytest.mark.parametrize("params, code, words", [
    ({"KeyName": "nope"}, "InvalidKeyPair.NotFound", "'nope'"),
    ({"UserData": "!!!"}, "InvalidParameterValue", "BASE64"),
    ({"UserData": base64.b64encode(b"x" * 50_000).decode()}, "InvalidParameterValue",
     "UserData is 50000 bytes"),
    ({"SubnetId": "subnet-0123456789abcdef0"}, "InvalidSubnetID.NotFound",
     "subnet-0123456789abcdef0"),
    ({"SubnetId": "net-1"}, "InvalidSubnetID.Malformed", "net-1"),
    ({"PrivateIpAddress": "10.0.0.5"}, "MissingParameter", "SubnetId"),
    ({"ClientToken": "x" * 65}, "InvalidParameterValue", "ClientToken"),
    ({"MaxCount": "2", "PrivateIpAddress": "10.0.0.5"}, "InvalidParameterCombination",
     "PrivateIpAddress"),
], ids=["unknown-key", "bad-base64", "user-data-too-big", "unknown-subnet", "malformed-subnet",
        "ip-without-subnet", "long-token", "ip-for-two"])
def test_refused_launches_record_nothing(cloud, alice, params, code, words):
    env, _host = cloud
    params = {"MinCount": "1", "MaxCount": "1", **params}
    with pytest.raises(Ec2Error) as e:
        run(env, alice, "RunInstances", ImageId=_ami(env, alice), InstanceType="tiny", **params)
    assert e.value.code == code and words in e.value.message, e.value.message
    assert (_count(env, Instance), _count(env, Ec2ClientToken)) == (0, 0)


def test_client_token_same_parameters_same_reservation(cloud, alice):
    env, _host = cloud
    first = _launch(env, alice, ClientToken="retry-me", MaxCount="2")
    again = _launch(env, alice, ClientToken="retry-me", MaxCount="2")
    assert again["reservationId"] == first["reservationId"]
    assert [i["instanceId"] for i in again["instancesSet"]] == \
        [i["instanceId"] for i in first["instancesSet"]]
    assert _count(env, Instance) == 2
    assert {i["clientToken"] for i in again["instancesSet"]} == {"retry-me"}
    with pytest.raises(Ec2Error) as e:
        _launch(env, alice, ClientToken="retry-me", MaxCount="3")
    assert e.value.code == "IdempotentParameterMismatch" and first["reservationId"] in \
        e.value.message
    assert _count(env, Instance) == 2
    # tokens are per project: bob's same token is his own new launch
    bobs = _launch(env, alice.__class__("bob", "p-bob", ("member",)), ClientToken="retry-me",
                   MaxCount="2")
    assert bobs["reservationId"] != first["reservationId"] and _count(env, Instance) == 4


def test_a_refused_launch_forgets_its_token(cloud, alice):
    env, _host = cloud
    with pytest.raises(Ec2Error) as e:
        _launch(env, alice, ClientToken="t1", MinCount="40", MaxCount="40")
    assert e.value.code == "InsufficientInstanceCapacity"
    assert (_count(env, Instance), _count(env, Ec2ClientToken)) == (0, 0)
    # the corrected retry with the same token launches
    r = _launch(env, alice, ClientToken="t1")
    assert len(r["instancesSet"]) == 1 and _count(env, Port) == 0
