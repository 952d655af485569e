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
    assert kumo("host", "show", "kvm") == (
        2, "", "kumo: error: host 'kvm' not found (hosts are named exactly); nearest: kvm-1\n")


def test_set_ratios_zone_and_virt_type(kumo, test_host, db):
    from kumo.db.models import Host
    with db.session_scope() as s:
        generation = s.query(Host).filter_by(name=test_host).one().generation
    code, out, err = kumo("host", "set", test_host, "--cpu-allocation-ratio", "2",
                          "--availability-zone", "az1", "-f", "json")
    assert (code, err, as_json(out)["availability_zone"]) == (0, "", "az1")
    code, out, _ = kumo("host", "set", test_host, "--virt-type", "qemu", "-f", "json")
    assert (code, as_json(out)["virt_type"]) == (0, "qemu")
    with db.session_scope() as s:
        host = s.query(Host).filter_by(name=test_host).one()
        assert (host.cpu_allocation_ratio, host.generation) == (2.0, generation + 2)


def test_set_refusals(kumo, test_host):
    assert kumo("host", "set", test_host) == (
        2, "", "kumo: error: nothing to change: give --virt-type, --uri, --availability-zone or "
               "an allocation ratio\n")
    assert kumo("host", "set", test_host, "--ram-allocation-ratio", "0") == (
        2, "", "kumo: error: ram_allocation_ratio=0.0 is invalid: allowed a number above 0\n")
    assert kumo("host", "set", test_host, "--uri", UNREACHABLE) == (
        3, "", f"kumo: host error: host {UNREACHABLE} does not answer: Failed to connect socket "
               "to '/nonexistent/kumo.sock': No such file or directory\n")
    code, out, _ = kumo("host", "show", test_host, "-f", "json")
    assert as_json(out)["uri"] == "test:///default"


def test_delete_refused_while_servers_are_on_it(kumo, test_host, db):
    from kumo.compute.context import admin_context
    from tests.cli.test_server_commands import _Env
    from tests.compute.records import add_instance

    add_instance(_Env(db), admin_context(), test_host, name="web")
    assert kumo("host", "delete", test_host) == (
        2, "", "kumo: error: cannot delete host 'kvm-1': 1 server on it (web); delete or "
               "evacuate them first, or disable the host\n")
    assert [h["name"] for h in as_json(kumo("host", "list", "-f", "json")[1])] == ["kvm-1"]


def test_delete(kumo, test_host):
    assert kumo("host", "delete", test_host) == (0, "deleted host kvm-1\n", "")
    assert as_json(kumo("host", "list", "-f", "json")[1]) == []
    assert kumo("host", "delete", test_host) == (2, "", "kumo: error: host 'kvm-1' not found\n")


def test_refresh_a_host_that_cannot_be_probed_changes_nothing(kumo, test_host, db):
    """libvirt's test driver has no domain capabilities: refresh says so and keeps what was
    stored (the probe itself is tested against fake and real hosts)."""
    from kumo.db.models import Host
    with db.session_scope(readonly=True) as s:
        before = s.query(Host).filter_by(name="kvm-1").one().capabilities_json
    assert kumo("host", "refresh", "kvm-1") == (
        3, "", "kumo: host error: cannot read domain capabilities on test:///default: this "
               "function is not supported by the connection driver: "
               "virConnectGetDomainCapabilities\n")
    with db.session_scope(readonly=True) as s:
        assert s.query(Host).filter_by(name="kvm-1").one().capabilities_json == before
    assert kumo("host", "refresh", "kvm") == (
        2, "", "kumo: error: host 'kvm' not found (hosts are named exactly); nearest: kvm-1\n")


def test_fence_and_evacuate_refusals(kumo, test_host):
    """kumo host set --down/--up and kumo host evacuate's refusals (the moves themselves:
    tests/compute/test_evacuate.py)."""
    assert kumo("host", "evacuate", "kvm") == (
        2, "", "kumo: error: host 'kvm' not found (hosts are named exactly); nearest: kvm-1\n")
    assert kumo("host", "evacuate", "--match", "kvm*") == (
        0, "--match 'kvm*' matches 1 host(s): kvm-1\nnothing done: add --yes to evacuate these "
           "hosts\n", "")
    assert kumo("host", "evacuate", "kvm-1", "--force-unfenced") == (
        2, "", "kumo: error: --force-unfenced needs --reason TEXT (it is logged with who gave "
               "it)\n")
    assert kumo("host", "evacuate", "kvm-1", "--dry-run") == (
        2, "", "kumo: error: cannot evacuate: host 'kvm-1' is unknown but not confirmed fenced: "
               "its guests may still be running; power it off, then `kumo host set kvm-1 "
               "--down` (or --force-unfenced --reason TEXT to override, logged)\n")
    code, out, _ = kumo("host", "set", "kvm-1", "--down", "--reason", "IPMI off", "-f", "json")
    assert (code, as_json(out)["forced_down"]) == (0, True)
    assert kumo("host", "evacuate", "kvm-1", "--dry-run") == (
        0, "plan for kvm-1: 0 server(s)\n", "")
    code, out, _ = kumo("host", "set", "kvm-1", "--up", "-f", "json")
    assert (code, as_json(out)["forced_down"]) == (0, False)


def test_fence_command_set_run_and_refusals(kumo, test_host, tmp_path):
    """kumo host set --fence-command and kumo host fence (the fencing rules themselves:
    tests/compute/test_fencing.py)."""
    assert kumo("host", "fence", "kvm-1") == (
        2, "", "kumo: error: host 'kvm-1' has no fence command: set one with `kumo host set "
               "kvm-1 --fence-command '...'`, or power it off and confirm with `kumo host set "
               "kvm-1 --down`\n")
    assert kumo("host", "set", "kvm-1", "--fence-command", "ipmitool 'x") == (
        2, "", "kumo: error: fence command \"ipmitool 'x\" is invalid: No closing quotation; "
               "allowed a command line split as a shell would (quotes, no pipes)\n")
    code, out, _ = kumo("host", "set", "kvm-1", "--fence-command", "false", "-f", "json")
    assert (code, as_json(out)["fence_command"], as_json(out)["forced_down"]) == (
        0, "false", False)
    code, out, err = kumo("host", "fence", "kvm-1")  # the log line, then the error
    assert (code, out, err.splitlines()[-1]) == (
        3, "", "kumo: host error: fence command exited with status 1 (no output on stderr); "
               "host 'kvm-1' stays unfenced")
    kumo("host", "set", "kvm-1", "--fence-command", "true")
    code, out, _ = kumo("host", "fence", "kvm-1")
    assert (code, out.startswith("host kvm-1 fenced: 'true' exited 0 after ")) == (0, True)
    code, out, _ = kumo("host", "set", "kvm-1", "--fence-command", "", "-f", "json")
    assert (code, as_json(out)["fence_command"], as_json(out)["forced_down"]) == (
        0, None, True)


def test_reserved_spare_set_and_cleared(kumo, test_host):
    code, out, _ = kumo("host", "set", "kvm-1", "--reserved", "-f", "json")
    view = as_json(out)
    assert (code, view["reserved"], view["enabled"], view["disabled_reason"]) == (
        0, True, False, "reserved: a spare host for evacuations")
    code, out, _ = kumo("host", "set", "kvm-1", "--no-reserved", "-f", "json")
    view = as_json(out)
    assert (code, view["reserved"], view["enabled"], view["disabled_reason"]) == (
        0, False, True, None)
