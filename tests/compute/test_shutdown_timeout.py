"""The graceful-shutdown time of stop and soft reboot: --timeout, else the server's
os_shutdown_timeout (image property, or the flavor's os:shutdown_timeout extra spec), else 60 s;
a guest that ignores the request is powered off (stop) or hard-rebooted (soft reboot), and the
journal says so, for `kumo server event show` and the CLI's note."""

from __future__ import annotations

import pytest

from kumo.compute import events, flavors, images, servers
from kumo.errors import ConfigConflict, InvalidInput
from tests.compute.fakehost import fake_cloud


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    images.create_image(env, admin, "slow", file=image_file, disk_format="qcow2",
                        properties={"os_type": "linux", "os_shutdown_timeout": "300"},
                        visibility="public")
    flavors.create_flavor(env, admin, "patient", vcpus=1, ram_mib=256, disk_gib=1,
                          extra_specs={"os:shutdown_timeout": "120"})
    return host


def shutdown_timeouts(host) -> list[float]:
    return [c.args["timeout_s"] for c in host.ops("shutdown")]


@pytest.mark.parametrize("image, flavor, override, timeout", [
    ("linux", "tiny", None, None),  # the controller's (60 s; the env fixture's 2 s)
    ("slow", "tiny", None, 300.0),
    ("linux", "patient", None, 120.0),
    ("slow", "tiny", 5, 5.0),
], ids=["default", "image-property", "flavor-extra-spec", "override"])
def test_stop_timeout(env, admin, cloud, image, flavor, override, timeout):
    servers.create_server(env, admin, "web", image=image, flavor=flavor)
    servers.stop_server(env, admin, "web", override)
    timeout = env.stop_timeout_s if timeout is None else timeout
    assert shutdown_timeouts(cloud) == [timeout]
    [stop, _create] = events.list_events(env, admin, "web")
    assert stop["details"] == {"timeout_s": timeout}


def test_image_and_flavor_disagreeing_is_refused_at_create(env, admin, cloud):
    with pytest.raises(ConfigConflict):
        servers.create_server(env, admin, "web", image="slow", flavor="patient")


def test_guest_ignoring_acpi(env, admin, cloud):
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    cloud.domains[f"kumo-{uuid}"].graceful = False
    view = servers.stop_server(env, admin, "web", 2)
    assert view["status"] == "SHUTOFF"
    assert events.list_events(env, admin, "web")[0]["details"]["note"] == (
        "the guest did not shut down within 2 s: powered off")
    servers.start_server(env, admin, "web")
    servers.reboot_server(env, admin, "web", timeout_s=3)
    latest = events.list_events(env, admin, "web")[0]
    assert (latest["action"], latest["state"], latest["details"]["note"]) == (
        "reboot", "done", "the guest did not shut down within 3 s: hard reboot")


def test_negative_timeout_is_refused(env, admin, cloud):
    servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    with pytest.raises(InvalidInput, match=r"^timeout -1 is invalid: allowed 0 or more seconds$"):
        servers.stop_server(env, admin, "web", -1)


def test_cli_says_a_soft_reboot_became_hard(env, admin, cloud, monkeypatch, capsys):
    """`kumo server reboot` on a guest that ignores the shutdown request: the journal's note
    on stderr, the server ACTIVE; `kumo server stop --timeout` likewise."""
    from kumo.cli import servers as cli_servers
    from kumo.cli.main import main
    from kumo.compute.env import ComputeEnv

    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    cloud.domains[f"kumo-{uuid}"].graceful = False
    monkeypatch.setattr(ComputeEnv, "close", lambda self: None)  # the test's env lives on
    monkeypatch.setattr(cli_servers.ComputeEnv, "from_env", classmethod(lambda cls: env))
    assert main(["server", "reboot", "web", "--timeout", "1", "-f", "value", "-c",
                 "status"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("ACTIVE\n", "kumo: the guest did not shut down within 1 s: hard "
                                      "reboot\n")
    assert main(["server", "stop", "web", "-f", "value", "-c", "status"]) == 0
    assert capsys.readouterr() == ("SHUTOFF\n", "kumo: the guest did not shut down within "
                                               "2 s: powered off\n")
