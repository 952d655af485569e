"""JSON-patch operations as the image service's arguments (kumo.api.routers.image)."""

from __future__ import annotations

import pytest

from kumo.api.routers.image import PatchOp, _patch_changes
from kumo.errors import InvalidInput


def ops(*raw):
    return [PatchOp.model_validate(o) for o in raw]


@pytest.mark.parametrize("raw, expected", [
    ([{"op": "add", "path": "/os_type", "value": "windows"}],
     {"set_properties": {"os_type": "windows"}, "unset": []}),
    ([{"op": "replace", "path": "/os_type", "value": "windows"}],
     {"set_properties": {"os_type": "windows"}, "unset": []}),
    ([{"op": "remove", "path": "/recommended"}],
     {"set_properties": {}, "unset": ["recommended"]}),
    ([{"op": "remove", "path": "/a"}, {"op": "add", "path": "/a", "value": "1"}],
     {"set_properties": {"a": "1"}, "unset": []}),
    ([{"op": "replace", "path": "/name", "value": "n"},
      {"op": "replace", "path": "/min_ram", "value": 512},
      {"op": "replace", "path": "/protected", "value": True}],
     {"set_properties": {}, "unset": [], "name": "n", "min_ram": 512, "protected": True}),
    ([{"op": "add", "path": "/owner_specified.openstack~1object", "value": "images/x"}],
     {"set_properties": {"owner_specified.openstack/object": "images/x"}, "unset": []}),
], ids=["add-is-upsert", "replace", "remove", "remove-then-add", "attributes", "escaped-path"])
def test_patch_changes(raw, expected):
    assert _patch_changes(ops(*raw)) == expected


@pytest.mark.parametrize("raw, words", [
    ([{"op": "replace", "path": "/size", "value": 1}], "/size cannot be changed: it is read-only"),
    ([{"op": "add", "path": "/k", "value": 5}], "property k=5 is invalid: allowed a string"),
    ([{"op": "replace", "path": "/min_ram", "value": "big"}],
     "min_ram='big' is invalid: allowed an integer >= 0"),
    ([{"op": "replace", "path": "/protected", "value": "yes"}],
     "protected='yes' is invalid: allowed true or false"),
    ([{"op": "remove", "path": "/name"}], "/name cannot be removed: it is an image attribute"),
], ids=["read-only", "non-string", "min-ram", "protected", "remove-attribute"])
def test_bad_patch_is_invalid_input(raw, words):
    with pytest.raises(InvalidInput, match=words):
        _patch_changes(ops(*raw))


@pytest.mark.parametrize("raw", [
    {"op": "move", "path": "/a", "from": "/b"},
    {"op": "add", "path": "/a/b", "value": "x"},
    {"op": "add", "path": "a", "value": "x"},
], ids=["unsupported-op", "nested-path", "no-slash"])
def test_malformed_operations_are_refused_by_the_model(raw):
    with pytest.raises(Exception) as e:
        PatchOp.model_validate(raw)
    assert type(e.value).__name__ == "ValidationError"
