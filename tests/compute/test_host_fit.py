"""One answer to "can this host run this guest?" (SQLite and PostgreSQL), on the two fleets of
the field report:

* Windows 11 (UEFI, Secure Boot and TPM 2.0 by default, no property says so) on a large host
  without swtpm and a small one with it: the free-RAM weigher prefers the large host, the guest
  policy (the GuestPolicy filter) refuses it, so create lands on the small host and explain says
  why the large one was refused -- before, the scheduler chose the large host and create failed.
* An image that says only os_distro=windows (seed 000) under "Windows only on licensed hosts":
  it is Windows to the scheduler as it is to the guest policy, so it lands on licensed hosts only.
"""

from __future__ import annotations

import json

import pytest

from kumo.cli.main import main
from kumo.compute import flavors, images, servers
from kumo.db.models import Aggregate, Host
from tests.support.hosts import add_host, recorded_caps

NO_SWTPM = ("tpm-unavailable (TPM 2.0 (tpm-crb) needs swtpm, which is not installed on the "
            "host)")


def place(env, ctx, name: str, image: str, flavor: str) -> str:
    """Create's scheduling step (placed, claimed, recorded on its host); the host's name. The
    host-side build is create's business beyond placement (libvirt's test driver cannot take
    an image upload)."""
    instance, _ = servers.new_instance(env, ctx, name, image=image, flavor=flavor)
    servers.schedule_and_record(env, ctx, instance)
    return servers.show_server(env, ctx, name)["host"]


@pytest.fixture
def explain(env, capsys):
    def run(image: str, flavor: str) -> dict:
        capsys.readouterr()
        code = main(["placement", "explain", "--image", image, "--flavor", flavor, "--format",
                     "json", "--database-url", env.db.url.render_as_string(hide_password=False)])
        out, err = capsys.readouterr()
        assert (code, err) == (0, "")
        return json.loads(out)
    return run


@pytest.fixture
def tpm_fleet(env, admin, image_file):
    add_host(env.db, "large", vcpus=64, ram_mib=262144, disk_gib=2000,
             caps=recorded_caps(swtpm=False))
    add_host(env.db, "small", vcpus=8, ram_mib=16384, disk_gib=100, caps=recorded_caps())
    images.create_image(env, admin, "win11", file=image_file, disk_format="qcow2",
                        properties={"os_type": "windows", "os_distro": "windows",
                                    "os_version": "11"}, visibility="public")
    images.create_image(env, admin, "linux", file=image_file, disk_format="qcow2",
                        properties={"os_distro": "ubuntu", "os_version": "22.04"},
                        visibility="public")
    # Windows 11's minimum (osinfo-db: 4 GiB, 64 GB)
    flavors.create_flavor(env, admin, "m1", vcpus=2, ram_mib=4096, disk_gib=64)
    return env


def test_windows_11_lands_on_the_tpm_host_and_explain_says_why_not_the_large_one(
        tpm_fleet, admin, explain):
    env = tpm_fleet
    doc = explain("win11", "m1")
    assert doc["chosen"] == "small"
    assert doc["summary"] == f"1/2 hosts: 1 policy: {NO_SWTPM}"
    large = {h["host"]: h for h in doc["hosts"]}["large"]
    assert [(f["plugin"], [r["text"] for r in f["reasons"]]) for f in large["failed"]] == [
        ("GuestPolicy", [NO_SWTPM])]
    assert place(env, admin, "w11", "win11", "m1") == "small"
    # a guest that needs no TPM still goes where there is most room: the policy refuses only
    # what the host cannot build
    assert place(env, admin, "lx", "linux", "m1") == "large"


@pytest.fixture
def licensed_fleet(env, admin, image_file, tmp_path, monkeypatch):
    config = tmp_path / "scheduler.toml"
    config.write_text('[options.AggregateImageIsolation]\nrequired = { os_type = ["windows"] }\n')
    monkeypatch.setenv("KUMO_SCHEDULER_CONFIG", str(config))
    caps = recorded_caps()
    add_host(env.db, "licensed", vcpus=8, ram_mib=16384, caps=caps)
    add_host(env.db, "big-1", vcpus=64, ram_mib=262144, caps=caps)
    add_host(env.db, "big-2", vcpus=64, ram_mib=262144, caps=caps)
    with env.db.session_scope() as s:
        agg = Aggregate(name="win-licensed")
        agg.meta["os_type"] = "windows"
        agg.hosts.append(s.query(Host).filter_by(name="licensed").one())
        s.add(agg)
    # seed 000's CERN image: os_distro=windows, no os_type
    images.create_image(env, admin, "cern-win10", file=image_file, disk_format="qcow2",
                        properties={"os_distro": "windows", "os_version": "10"},
                        visibility="public")
    # Windows 10's minimum (osinfo-db: 2 GiB, 20 GB)
    flavors.create_flavor(env, admin, "m1", vcpus=1, ram_mib=2048, disk_gib=20)
    return env


def test_os_distro_only_windows_lands_only_on_licensed_hosts(licensed_fleet, admin, explain):
    env = licensed_fleet
    doc = explain("cern-win10", "m1")
    assert doc["chosen"] == "licensed"
    refused = ("os_type=windows runs only in an aggregate with os_type=windows; host is in none")
    assert doc["summary"] == f"1/3 hosts: 2 {refused}"
    for name in ("big-1", "big-2"):
        row = {h["host"]: h for h in doc["hosts"]}[name]
        assert [(f["plugin"], [r["text"] for r in f["reasons"]]) for f in row["failed"]] == [
            ("AggregateImageIsolation", [refused])]
    placed = [place(env, admin, f"w{k}", "cern-win10", "m1") for k in range(3)]
    assert placed == ["licensed"] * 3
