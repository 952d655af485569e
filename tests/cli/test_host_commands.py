"""kumo host add/list/show/enable/disable/orphans."""

from __future__ import annotations

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json

UNREACHABLE = "qemu:///system?socket=/nonexistent/kumo.sock"


def test_add_unreachable_is_a_host_error(kumo):
    assert kumo("host", "add", "far", "--uri", UNREACHABLE) == (
        3, "", f"kumo: host error: host {UNREACHABLE} does not answer: Failed to connect socket "
               "to '/nonexistent/kumo.sock': No such file or directory\n")
    assert as_json(kumo("host", "list", "-f", "json")[1]) == []


def test_list_show_disable_enable_orphans(kumo, test_host):
    code, out, _ = kumo("host", "list", "-f", "json")
    assert [(h["name"], h["enabled"]) for h in as_json(out)] == [("kvm-1", True)]
    code, out, _ = kumo("host", "disable", "kvm-1", "--reason", "fan", "-f", "json")
    assert (as_json(out)["enabled"], as_json(out)["disabled_reason"]) == (False, "fan")
    assert as_json(kumo("host", "enable", "kvm-1", "-f", "json")[1])["enabled"] is True
    code, out, _ = kumo("host", "show", "kvm-1", "-f", "json")
    assert (code, as_json(out)["orphans"]) == (0, [])
    assert kumo("host", "orphans", "kvm-1") == (0, "no orphans on host kvm-1\n", "")
    assert kumo("host", "show", "kvm") == (2, "", "kumo: error: host 'kvm' not found\n")
