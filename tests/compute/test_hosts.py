"""Hosts: added only when the URI answers (nothing stored otherwise), exact names, enable and
disable, orphans reported."""

from __future__ import annotations

import pytest

from kumo.compute import hosts
from kumo.db.models import Host
from kumo.errors import Forbidden, HostError, HostUnreachable, InvalidInput, NotFound
from tests.compute.conftest import count
from tests.compute.records import add_instance

UNREACHABLE = "qemu:///system?socket=/nonexistent/kumo.sock"


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(name="far", uri=UNREACHABLE), HostUnreachable,
     f"host {UNREACHABLE} does not answer: Failed to connect socket to "
     "'/nonexistent/kumo.sock': No such file or directory"),
    (dict(name="test", uri="test:///default"), HostError,
     "cannot read domain capabilities on test:///default: this function is not supported by "
     "the connection driver: virConnectGetDomainCapabilities"),
    (dict(name="kvm-1", uri="test:///default"), InvalidInput,
     "host name 'kvm-1' is already taken (by test:///default)"),
    (dict(name="x", uri="test:///default", virt_type="xen"), InvalidInput,
     "virt_type='xen' is invalid: allowed kvm, qemu"),
    (dict(name=" padded", uri="test:///default"), InvalidInput,
     "host name ' padded' is invalid (surrounding spaces): "
     "allowed 1 to 255 characters, no surrounding spaces, no control characters"),
], ids=["unreachable", "no-domain-capabilities", "duplicate", "bad-virt-type", "padded-name"])
def test_add_refused_stores_nothing(env, admin, kvm_host, kwargs, error, message):
    with pytest.raises(error) as e:
        hosts.add_host(env, admin, **kwargs)
    assert str(e.value) == message
    assert count(env.db, Host) == 1


def test_exact_names_only(env, admin, kvm_host):
    with pytest.raises(NotFound, match=r"^host 'kvm' not found \(hosts are named exactly\); nearest: kvm-1$"):
        hosts.show_host(env, admin, "kvm")


def test_enable_disable(env, admin, alice, kvm_host):
    view = hosts.set_enabled(env, admin, kvm_host, False, "replacing a DIMM")
    assert (view["enabled"], view["disabled_reason"]) == (False, "replacing a DIMM")
    assert hosts.set_enabled(env, admin, kvm_host, True)["disabled_reason"] is None
    with pytest.raises(Forbidden):
        hosts.set_enabled(env, alice, kvm_host, False)


def test_show_counts_instances_and_lists(env, admin, kvm_host):
    add_instance(env, admin, kvm_host)
    [row] = hosts.list_hosts(env, admin)
    assert (row["name"], row["instances"], row["ram_used"], row["vcpus_used"]) == (
        "kvm-1", 1, 256, 1)
    view = hosts.show_host(env, admin, kvm_host)
    assert view["instances"] == 1
    assert view["orphans"] == []  # the test driver's own domain "test" is not kumo's
