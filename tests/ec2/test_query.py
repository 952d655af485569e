"""The EC2 Query API's flattened parameters (kumo.ec2.query) and ids (kumo.ec2.ids)."""

from __future__ import annotations

import uuid

import pytest

from kumo.ec2 import ids
from kumo.ec2.errors import Ec2Error
from kumo.ec2.query import Params


def test_lists_and_structures_in_index_order():
    p = Params.of([("InstanceId.2", "i-b"), ("InstanceId.10", "i-c"), ("InstanceId.1", "i-a"),
                   ("Filter.2.Name", "tag:Name"), ("Filter.2.Value.1", "web"),
                   ("Filter.1.Name", "instance-state-name"), ("Filter.1.Value.2", "stopped"),
                   ("Filter.1.Value.1", "running")])
    assert p.strings("InstanceId") == ["i-a", "i-b", "i-c"]
    f = p.filters(("instance-state-name", "tag:"))
    assert f.by_name == {"instance-state-name": ["running", "stopped"], "tag:Name": ["web"]}
    assert f.match("instance-state-name", "stopped") and not f.match("instance-state-name",
                                                                      "pending")
    assert f.tags({"Name": "web"}) and not f.tags({"Name": "db"}) and not f.tags({})


def test_filter_values_take_amazons_wildcards():
    f = Params.of([("Filter.1.Name", "tag:Name"), ("Filter.1.Value.1", "web-?*")]).filters(
        ("tag:",))
    assert f.tags({"Name": "web-01"}) and not f.tags({"Name": "web-"})


@pytest.mark.parametrize("pairs, code, words", [
    ([("InstanceId.0", "i-a")], "InvalidParameterValue", "bad index"),
    ([("InstanceId.-1", "i-a")], "InvalidParameterValue", "bad index"),
    ([("InstanceId.1001", "i-a")], "InvalidParameterValue", "bad index"),
    ([("InstanceId.1.Extra", "i-a")], "UnknownParameter", "InstanceId.1.Extra"),
    ([("Filter.1.Value.1", "x")], "MissingParameter", "Filter.N.Name"),
    ([("Filter.1.Name", "state")], "MissingParameter", "Filter value"),
    ([("Filter.1.Name", "colour"), ("Filter.1.Value.1", "x")], "InvalidParameterValue",
     "colour"),
    ([("Filter.1.Colour", "x")], "UnknownParameter", "Filter.1.Colour"),
], ids=["index-0", "index-negative", "index-too-big", "extra-component", "no-filter-name",
        "no-filter-value", "unknown-filter", "unknown-member"])
def test_malformed_lists_are_refused(pairs, code, words):
    p = Params.of(pairs)
    with pytest.raises(Ec2Error) as e:
        p.strings("InstanceId")
        p.filters(("state",))
    assert e.value.code == code and words in e.value.message


def test_a_parameter_given_twice_and_an_unknown_one_are_refused():
    with pytest.raises(Ec2Error, match="more than once"):
        Params.of([("Action", "A"), ("Action", "B")])
    with pytest.raises(Ec2Error) as e:
        Params.of([("Action", "DescribeImages"), ("ImageIds.1", "ami-x")]).check_known(
            ("ImageId",))
    assert e.value.code == "UnknownParameter"


@pytest.mark.parametrize("value, ok", [("1", True), ("50", True), ("0", False), ("51", False),
                                       ("1.5", False), ("", False), ("9" * 40, False)],
                         ids=["1", "50", "0", "51", "fraction", "empty", "huge"])
def test_integers_are_bounded(value, ok):
    p = Params.of([("MaxCount", value)])
    if ok:
        assert p.integer("MaxCount", None, 1, 50) == int(value)
    else:
        with pytest.raises(Ec2Error, match="allowed an integer from 1 to 50"):
            p.integer("MaxCount", None, 1, 50)


def test_ec2_ids_are_stable_and_reversible():
    u = str(uuid.uuid4())
    iid = ids.instance_id(u)
    assert iid == f"i-{u.replace('-', '')[:17]}" and iid == ids.instance_id(u)
    prefix, digits = ids.parse(iid, ("i",), "InvalidInstanceID.Malformed", "instance")
    assert prefix == "i" and u.startswith(ids.uuid_like(digits)[:-1])
    assert ids.image_id(u, "aki").startswith("aki-") and ids.image_id(u, "qcow2")[:4] == "ami-"
    # an image id that is no uuid (the Image API takes a caller's own): its sha256's digits
    assert ids.image_id("my-image", "raw") == ids.image_id("my-image", "raw")
    assert len(ids.image_id("my-image", "raw")) == 4 + 17


@pytest.mark.parametrize("bad", ["i-", "i-xyz", "i-0123456789ABCDEF0", "ami-0123456789abcdef0",
                                 "i-0123456789abcdef01", "i-0123456789"],
                         ids=["empty", "not-hex", "upper", "other-prefix", "18-digits",
                              "10-digits"])
def test_malformed_ids(bad):
    with pytest.raises(Ec2Error) as e:
        ids.parse(bad, ("i",), "InvalidInstanceID.Malformed", "instance")
    assert e.value.code == "InvalidInstanceID.Malformed" and bad in e.value.message
