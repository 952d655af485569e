import pytest

from kumo.catalog.flavor import Flavor, effective_properties
from kumo.catalog.properties import ImageProperties
from kumo.errors import ConfigConflict, InvalidInput, InvalidProperty


@pytest.mark.parametrize("text, expected", [
    ("2,4096,40", Flavor(2, 4096, 40)),
    ("vcpus=1,ram=512,disk=1", Flavor(1, 512, 1)),
    ("vcpus=4,ram=8192,disk=80,ephemeral=10,name=m1.large",
     Flavor(4, 8192, 80, name="m1.large", ephemeral_gib=10)),
], ids=["positional", "keyword", "keyword-full"])
def test_parse(text, expected):
    assert Flavor.parse(text) == expected


@pytest.mark.parametrize("text, message", [
    ("2,4096", "flavor '2,4096' is invalid: allowed 'VCPUS,RAM_MIB,DISK_GIB'"),
    ("0,4096,40", "flavor vcpus=0 is invalid: allowed an integer from 1 to 2147483647"),
    ("vcpus=1,ram=512,gpu=1", "flavor 'vcpus=1,ram=512,gpu=1': unknown field(s) gpu"),
], ids=["short", "zero-vcpus", "unknown-field"])
def test_parse_errors(text, message):
    with pytest.raises(InvalidInput) as e:
        Flavor.parse(text)
    assert str(e.value).startswith(message)


def test_extra_spec_overrides_image():
    img = ImageProperties.parse({"os_type": "windows"})
    f = Flavor(2, 4096, 40, extra_specs={"hw:disk_bus": "sata"})
    assert effective_properties(img, f).get("hw_disk_bus") == "sata"


def test_conflict_names_both_sources_and_values():
    img = ImageProperties.parse({"os_secure_boot": "required"})
    f = Flavor(2, 4096, 40, name="m1.win", extra_specs={"os:secure_boot": "disabled"})
    with pytest.raises(ConfigConflict) as e:
        effective_properties(img, f)
    assert str(e.value) == ("image property os_secure_boot='required' conflicts with flavor "
                            "'m1.win' extra spec os:secure_boot='disabled': make them agree or "
                            "remove one")


def test_invalid_extra_spec_named_as_extra_spec():
    f = Flavor(2, 4096, 40, extra_specs={"hw:disk_bus": "floppy"})
    with pytest.raises(InvalidProperty) as e:
        effective_properties(ImageProperties.parse({}), f)
    assert str(e.value).startswith("hw:disk_bus='floppy' is invalid")
