"""Issue 17 end to end: boto3 against a live kumo serve whose host is the machine's libvirtd
(qemu:///system, TCG), booting the probe guest. A Windows-typed and a Linux-typed image launched
with RunInstances run for real; the Windows one gets the local-time clock and Hyper-V
enlightenments, the Linux one UTC -- read from the domains libvirt runs -- and the EC2-made
Windows domain is exactly the one ``kumo server create`` makes from the same image and flavor.
Then describe-instances until running, stop/start/terminate, tags."""

from __future__ import annotations

import difflib
import re
import time

import pytest
from lxml import etree

from kumo.cli.demo import GUEST_CMDLINE, build_guest_files
from kumo.compute import images, naming, servers
from kumo.compute.context import admin_context
from tests.api.ec2_support import env_as, setup
from tests.api.live import start, stop
from tests.e2e.serve_support import clean_up, make_cloud, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def ec2_cloud(tmp_path_factory, system_libvirt):
    base = tmp_path_factory.mktemp("ec2-e2e")
    cloud = make_cloud(base, system_libvirt)
    live = None
    try:
        live = start(base, cloud.environ)
        c = setup(live)
        kernel, initramfs = build_guest_files(base / "alice-guest")
        env, alice = env_as(live, c, "alice", "demo")
        try:
            aki = images.create_image(env, alice, "kernel", file=kernel, disk_format="aki")
            ari = images.create_image(env, alice, "ramdisk", file=initramfs, disk_format="ari")
            boot = {"kernel_id": aki["id"], "ramdisk_id": ari["id"],
                    "os_command_line": GUEST_CMDLINE}
            root = base / "root.qcow2"
            for name, os_type in (("linux", "linux"), ("windows", "windows")):
                images.create_image(env, alice, name, file=root, disk_format="qcow2",
                                    properties={"os_type": os_type, **boot})
        finally:
            env.close()
        yield c, cloud
    finally:
        if live is not None:
            stop(live)
        clean_up(cloud)


def _describe(ec2, iid):
    [r] = ec2.describe_instances(InstanceIds=[iid])["Reservations"]
    return r["Instances"][0]


def _until(ec2, iid, state, timeout=240):
    def reached():
        time.sleep(1.1)  # reads are answered twice a second too; one a second is plenty
        i = _describe(ec2, iid)
        return i if i["State"]["Name"] == state else None
    found = wait_for(reached, timeout, step=0)
    assert found is not None, f"{iid} never {state}: {_describe(ec2, iid)}"
    return found


def _uuid(cloud, iid: str) -> str:
    return servers.show_server(cloud.env, admin_context(), iid)["id"]


def _clock(xml: str) -> tuple[str, bool]:
    doc = etree.fromstring(xml.encode())
    return doc.find("clock").get("offset"), doc.find("features/hyperv") is not None


def test_ec2_instances_run_on_the_real_libvirtd(ec2_cloud):
    c, cloud = ec2_cloud
    ec2 = c.client()
    amis = {i["Name"]: i["ImageId"] for i in ec2.describe_images()["Images"]}
    assert {k: v[:4] for k, v in amis.items()} == {
        "kernel": "aki-", "ramdisk": "ari-", "linux": "ami-", "windows": "ami-"}

    launched = {}
    for name in ("windows", "linux"):
        r = ec2.run_instances(ImageId=amis[name], InstanceType="tiny", MinCount=1, MaxCount=1,
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                  {"Key": "Name", "Value": f"ec2-{name}"}]}])
        [inst] = r["Instances"]
        assert inst["State"]["Name"] == "pending"
        assert inst["KernelId"][:4] == "aki-" and inst["RamdiskId"][:4] == "ari-"
        launched[name] = inst["InstanceId"]
    running = {name: _until(ec2, iid, "running") for name, iid in launched.items()}
    assert running["windows"]["Platform"] == "windows" and "Platform" not in running["linux"]
    assert running["linux"]["Placement"]["AvailabilityZone"] == "nova"

    xml = {}
    for name, iid in launched.items():
        domain = naming.domain_name(_uuid(cloud, iid))
        assert cloud.conn.domain_state(domain) == "running"
        xml[name] = cloud.conn.domain_xml(domain)
    win_offset, win_hyperv = _clock(xml["windows"])
    assert win_offset in ("localtime", "timezone") and win_hyperv, xml["windows"]
    assert _clock(xml["linux"]) == ("utc", False), xml["linux"]

    # exactly what `kumo server create` gives the same image and flavor (same user)
    env, alice = env_as(c.live, c, "alice", "demo")
    try:
        made = servers.create_server(env, alice, "cli-windows", image="windows",
                                     flavor="tiny").server
    finally:
        env.close()
    ec2_uuid = _uuid(cloud, launched["windows"])
    defined = {u: cloud.conn.domain_xml(naming.domain_name(u), inactive=True)
               for u in (ec2_uuid, made["id"])}
    through_ec2 = _normal(defined[ec2_uuid], ec2_uuid, launched["windows"])
    through_cli = _normal(defined[made["id"]], made["id"], "cli-windows")
    assert through_ec2 == through_cli, "\n".join(difflib.unified_diff(
        through_cli.splitlines(), through_ec2.splitlines(), "kumo server create", "EC2",
        lineterm=""))

    # tags, stop/start, terminate
    found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["ec2-linux"]}])
    assert [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]] == [
        launched["linux"]]
    linux = launched["linux"]
    stopping = ec2.stop_instances(InstanceIds=[linux])["StoppingInstances"][0]
    assert stopping["PreviousState"]["Name"] == "running"
    assert stopping["CurrentState"]["Name"] in ("stopping", "stopped")
    _until(ec2, linux, "stopped")
    assert cloud.conn.domain_state(naming.domain_name(_uuid(cloud, linux))) == "shutoff"
    starting = ec2.start_instances(InstanceIds=[linux])["StartingInstances"][0]
    assert starting["PreviousState"]["Name"] == "stopped"
    _until(ec2, linux, "running")
    assert cloud.conn.domain_state(naming.domain_name(_uuid(cloud, linux))) == "running"
    uuids = {name: _uuid(cloud, iid) for name, iid in launched.items()}
    ec2.terminate_instances(InstanceIds=list(launched.values()))
    for iid in launched.values():
        _until(ec2, iid, "terminated")
    for uuid in uuids.values():
        assert naming.domain_name(uuid) not in cloud.conn.list_domains()


def _normal(xml: str, uuid: str, name: str) -> str:
    """The domain XML with what differs between two servers by identity taken out: the uuid
    (domain name, volume paths, metadata), the server's name, the NIC's MAC address (random
    per server)."""
    out = xml.replace(uuid, "UUID").replace(name, "NAME")
    return re.sub(r"<mac address='[0-9a-f:]+'/>", "<mac/>", out)


def _drive_password(cloud, uuid: str) -> str:
    """admin_pass from the config drive the build wrote into kumo's pool on this host (what
    cloudbase-init reads in the guest)."""
    import io
    import json
    from pathlib import Path

    import pycdlib

    iso = pycdlib.PyCdlib()
    path = Path(cloud.env.pool_volume_path(naming.volume_name(uuid, naming.CONFIG)))
    iso.open_fp(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, joliet_path="/openstack/latest/meta_data.json")
    iso.close()
    return json.loads(out.getvalue())["admin_pass"]


def test_get_password_data_decrypts_to_the_password_kumo_set(ec2_cloud, tmp_path):
    """A Windows instance launched with an RSA key pair: GetPasswordData (boto3) decrypted with
    the private key, and ``aws ec2 get-password-data --priv-launch-key``, both give the admin
    password on the instance's config drive."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    c, cloud = ec2_cloud
    ec2 = c.client()
    made = ec2.create_key_pair(KeyName="win-admin")
    key_file = tmp_path / "win-admin.pem"
    key_file.write_text(made["KeyMaterial"])
    key_file.chmod(0o600)
    ami = {i["Name"]: i["ImageId"] for i in ec2.describe_images()["Images"]}["windows"]
    [inst] = ec2.run_instances(ImageId=ami, InstanceType="tiny", MinCount=1, MaxCount=1,
                               KeyName="win-admin")["Instances"]
    iid = inst["InstanceId"]
    try:
        assert _until(ec2, iid, "running")["KeyName"] == "win-admin"
        uuid = _uuid(cloud, iid)
        assert cloud.conn.domain_state(naming.domain_name(uuid)) == "running"
        expected = _drive_password(cloud, uuid)
        data = ec2.get_password_data(InstanceId=iid)
        assert data["InstanceId"] == iid and data["PasswordData"]
        private = load_pem_private_key(made["KeyMaterial"].encode(), password=None)
        assert private.decrypt(base64.b64decode(data["PasswordData"]),
                               padding.PKCS1v15()).decode() == expected
        time.sleep(1.1)
        out = c.aws_json("get-password-data", "--instance-id", iid, "--priv-launch-key",
                         str(key_file))
        assert out["PasswordData"] == expected
    finally:
        time.sleep(1.1)
        ec2.terminate_instances(InstanceIds=[iid])
        _until(ec2, iid, "terminated")
