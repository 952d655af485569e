"""``kumo placement explain`` over a small fleet registered in the database (SQLite and
PostgreSQL): Hyper-V 6.2 and 6.3 hosts, a KVM host, and a generation 2 image that needs
Hyper-V >= 6.3 (seed 004)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from kumo.cli.main import main
from kumo.db.models import Flavor, Host, Image
from kumo.hosts.capabilities import HostCapabilities
from kumo.scheduler import service
from tests.db.fixtures import *  # noqa: F401,F403  (db, on SQLite and PostgreSQL)

#: name -> (hypervisor, version, RAM MiB)
FLEET = {
    "hv-2012-a": ("hyperv", (6, 2), 32768),
    "hv-2012-b": ("hyperv", (6, 2), 32768),
    "hv-2012r2-a": ("hyperv", (6, 3), 32768),
    "hv-2012r2-b": ("hyperv", (6, 3), 4096),
    "kvm-1": ("kvm", (7, 2, 0), 65536),
}
GEN2 = {"os_type": "windows", "hypervisor_type": "hyperv", "hw_machine_type": "hyperv-gen2",
        "hypervisor_version_requires": ">=6.3"}
SUMMARY = ("1/5 hosts: 2 Hyper-V version 6.2 < 6.3, 1 insufficient RAM (requested 8192 MiB, "
           "largest free 4096 MiB), 1 policy: hypervisor-type-mismatch (hypervisor_type=hyperv "
           "but the host runs kvm)")


@pytest.fixture
def fleet(db, monkeypatch, tmp_path):
    for var in ("KUMO_SCHEDULER_CONFIG", "KUMO_ROLES", "KUMO_USER_ID", "KUMO_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path))  # no scheduler.toml: the defaults
    now = datetime.now(timezone.utc)
    with db.session_scope() as s:
        for name, (hv, version, ram) in FLEET.items():
            host = Host(name=name, uri=f"test:///{name}", vcpus=16, ram_mib=ram, disk_gib=500,
                        last_heartbeat=now)
            host.set_capabilities(HostCapabilities(hypervisor=hv, hypervisor_version=version))
            s.add(host)
        image = Image(name="win2019-gen2", visibility="public", status="active",
                      disk_format="vhdx", container_format="bare")
        image.properties.update(GEN2)
        s.add(image)
        s.add(Flavor(name="w.large", flavorid="42", vcpus=4, ram_mib=8192, disk_gib=40))
    service.forget(db)
    return db.url.render_as_string(hide_password=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_table_and_summary(fleet, capsys):
    code, out, err = run(capsys, "placement", "explain", "--image", "win2019-gen2",
                         "--flavor", "w.large", "--database-url", fleet)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[-1] == SUMMARY
    assert "placement of image win2019-gen2 with flavor w.large (4 vCPU, 8192 MiB RAM, " \
           "40 GiB disk)" in out

    def row(host: str) -> str:
        (line,) = [ln for ln in lines if f" {host} " in ln]
        return line

    assert "chosen" in row("hv-2012r2-a")
    for old in ("hv-2012-a", "hv-2012-b"):
        assert "FAIL" in row(old)
        assert "ImageProperties: Hyper-V version 6.2 < 6.3" in row(old)
        assert ("GuestPolicy: hyperv-gen2-host-too-old (hw_machine_type=hyperv-gen2 needs "
                "Hyper-V 6.3") in row(old)  # (the table wraps the rest; JSON test: all of it)
    assert ("RAM: insufficient RAM (requested 8192 MiB, free 4096 MiB: used 0 of 4096 MiB)"
            in row("hv-2012r2-b"))
    assert ("GuestPolicy: hypervisor-type-mismatch (hypervisor_type=hyperv but the host runs "
            "kvm)") in row("kvm-1")


def test_explain_json(fleet, capsys):
    code, out, _ = run(capsys, "placement", "explain", "--image", "win2019-gen2",
                       "--flavor", "42", "--format", "json", "--database-url", fleet)
    assert code == 0
    doc = json.loads(out)
    assert (doc["summary"], doc["chosen"]) == (SUMMARY, "hv-2012r2-a")
    assert doc["flavor"] == {"id": "42", "name": "w.large", "vcpus": 4, "ram": 8192, "disk": 40}
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert [h["host"] for h in doc["hosts"] if h["passed"]] == ["hv-2012r2-a"]
    version = hosts["hv-2012-a"]["failed"][0]
    assert version["plugin"] == "ImageProperties"
    assert version["reasons"][0] == {
        "type": "VersionMismatch", "text": "Hyper-V version 6.2 < 6.3",
        "property": "hypervisor_version_requires", "required": ">=6.3",
        "host_value": "6.2", "hypervisor": "Hyper-V"}
    policy = hosts["hv-2012-a"]["failed"][1]
    assert policy["plugin"] == "GuestPolicy"
    assert [(r["type"], r["finding"], r["text"]) for r in policy["reasons"]] == [
        ("PolicyRefusal", "hyperv-gen2-host-too-old",
         "hyperv-gen2-host-too-old (hw_machine_type=hyperv-gen2 needs Hyper-V 6.3 (Windows "
         "Server 2012 R2) or newer, but the host runs Hyper-V 6.2 (Windows Server 2012))")]
    assert [(f["plugin"], [r["finding"] for r in f["reasons"]])
            for f in hosts["kvm-1"]["failed"]] == [
        ("GuestPolicy", ["hypervisor-type-mismatch", "machine-type-wrong-hypervisor"])]


def test_only_named_hosts(fleet, capsys):
    code, out, _ = run(capsys, "placement", "explain", "--image", "win2019-gen2", "--flavor",
                       "w.large", "--host", "hv-2012-a", "--host", "hv-2012-b",
                       "--database-url", fleet)
    assert code == 0
    assert out.splitlines()[-1] == "0/2 hosts: 2 Hyper-V version 6.2 < 6.3"


@pytest.mark.parametrize("argv, message", [
    (("--image", "nope", "--flavor", "w.large"), "kumo: error: image 'nope' not found\n"),
    (("--image", "win2019-gen2", "--flavor", "nope"), "kumo: error: flavor 'nope' not found\n"),
    (("--image", "win2019-gen2", "--flavor", "w.large", "--host", "hv-2012"),
     "kumo: error: host(s) 'hv-2012' not found (hosts are named exactly)\n"),
], ids=["image", "flavor", "host-is-exact"])
def test_unknown_names_are_one_clear_line(fleet, capsys, argv, message):
    code, out, err = run(capsys, "placement", "explain", *argv, "--database-url", fleet)
    assert (code, out, err) == (2, "", message)


def test_database_not_initialised(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/none.db"
    code, out, err = run(capsys, "placement", "explain", "--image", "x", "--flavor", "y",
                         "--database-url", url)
    assert (code, out) == (1, "")
    assert err == (f"kumo: error: database {url} is not initialised: run `kumo db upgrade`, then add "
                   "hosts, images and flavors\n")
    assert not (tmp_path / "none.db").exists()
