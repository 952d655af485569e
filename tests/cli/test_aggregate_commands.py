"""`kumo aggregate ...`: the os-aggregates functions from the command line."""

from __future__ import annotations

import pytest

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json


def test_create_add_host_set_show_delete(kumo, test_host):
    code, out, err = kumo("aggregate", "create", "dense", "--zone", "az1", "-f", "json")
    assert code == 0, err
    assert as_json(out)["availability_zone"] == "az1"
    assert kumo("aggregate", "add-host", "dense", "kvm-1")[0] == 0
    code, out, err = kumo("aggregate", "set", "dense", "--property", "cpu_allocation_ratio=16",
                          "-f", "json")
    assert as_json(out)["metadata"] == {"availability_zone": "az1", "cpu_allocation_ratio": "16"}
    code, out, err = kumo("aggregate", "set", "dense", "--property", "ram_allocation_ratio=lots")
    assert code == 2
    assert "ram_allocation_ratio='lots' is invalid: the scheduler reads it as a ratio" in err
    code, out, err = kumo("aggregate", "delete", "dense")
    assert code == 2 and "host aggregate is not empty (kvm-1)" in err
    assert kumo("aggregate", "remove-host", "dense", "kvm-1")[0] == 0
    assert kumo("aggregate", "delete", "dense")[0] == 0
    assert as_json(kumo("aggregate", "list", "-f", "json")[1]) == []


@pytest.mark.parametrize("args, words", [
    (("aggregate", "set", "x"), "nothing to change"),
    (("aggregate", "set", "x", "--property", "novalue"), "--property 'novalue' is invalid"),
    (("aggregate", "show", "nope"), "Aggregate 'nope' could not be found"),
], ids=["nothing", "bad-pair", "unknown"])
def test_bad_requests(kumo, args, words):
    code, out, err = kumo(*args)
    assert code == 2 and words in err
