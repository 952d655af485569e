"""``kumo lint --host NAME``: lint for a host kumo manages, with its probed capabilities (the
recorded libvirt 9.0 / QEMU 7.2 host, added with --virt-type qemu) and the config drive create
attaches -- the refused configurations are errors there before anything is defined."""

from __future__ import annotations

import pytest

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json
from tests.support.hosts import add_host, recorded_caps


@pytest.fixture
def tcg_host(db) -> str:
    return add_host(db, "tcg-1", caps=recorded_caps(), virt_type="qemu")


@pytest.mark.parametrize("props, finding", [
    (("hw_machine_type=pc-q35-8.2",), "machine-type-unavailable"),
    (("hw_vif_model=igb",), "nic-model-unavailable"),
    (("hw_cdrom_bus=virtio",), "cdrom-bus-unavailable"),
    (("hw_cpu_mode=host-passthrough",), "cpu-mode-unavailable"),
], ids=["machine", "igb", "cdrom-virtio-config-drive", "host-passthrough-tcg"])
def test_lint_for_a_managed_host(kumo, tcg_host, props, finding):
    argv = ["lint", "-p", "os_distro=ubuntu", "-p", "os_version=22.04", "--host", "tcg-1",
            "-f", "json"]
    for p in props:
        argv += ["-p", p]
    code, out, err = kumo(*argv)
    assert (code, err) == (1, "")
    assert [f["id"] for f in as_json(out) if f["severity"] == "error"] == [finding]


def test_lint_host_refusals(kumo, tcg_host):
    assert kumo("lint", "-p", "os_type=linux", "--host", "nope") == (
        2, "", "kumo: error: host 'nope' not found\n")
    assert kumo("lint", "-p", "os_type=linux", "--host", "tcg-1", "--host-caps", "x.xml") == (
        2, "", "kumo: error: --host and --host-caps both name the host: give one\n")
    assert kumo("lint", "-p", "os_distro=ubuntu", "-p", "os_version=22.04", "--host",
                "tcg-1")[0] == 0
