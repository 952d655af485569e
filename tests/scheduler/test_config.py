"""Configuration names plugins by their stable NAMEs; mistakes are named errors."""

from __future__ import annotations

import pytest

from kumo.errors import InvalidInput
from kumo.scheduler import DEFAULT_FILTERS, FILTERS, WEIGHERS, SchedulerConfig

ERRORS = [
    ("unknown-filter", dict(filters=("RamFilter",)), "unknown filter 'RamFilter': allowed "
     + ", ".join(sorted(FILTERS))),
    ("unknown-weigher", dict(weighers={"RAMWeigher": 1.0}), "unknown weigher 'RAMWeigher'"),
    ("bad-multiplier", dict(weighers={"FreeRAM": float("nan")}),
     "weigher FreeRAM multiplier=nan is invalid: allowed a finite number"),
    ("filter-twice", dict(filters=("RAM", "RAM")), "a filter is listed twice"),
    ("options-for-unknown", dict(options={"Nope": {}}), "options for unknown plugin 'Nope'"),
    ("subset-zero", dict(host_subset_size=0),
     "host_subset_size=0 is invalid: allowed an integer >= 1"),
    ("subset-text", dict(host_subset_size="3"),
     "host_subset_size='3' is invalid: allowed an integer >= 1"),
]


@pytest.mark.parametrize("kw,message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_config_errors(kw, message):
    with pytest.raises(InvalidInput) as err:
        SchedulerConfig(**kw)
    assert message in str(err.value)


def test_unknown_plugin_option():
    config = SchedulerConfig(options={"ComputeUp": {"service_down": 30}})
    with pytest.raises(InvalidInput) as err:
        config.build_filters()
    assert str(err.value) == ("ComputeUp: unknown option(s) service_down; allowed "
                              "service_down_time")


def test_from_mapping_and_names():
    config = SchedulerConfig.from_mapping({"filters": ["RAM", "VCPU"],
                                           "weighers": {"FreeRAM": -1}})
    assert [f.NAME for f in config.build_filters()] == ["RAM", "VCPU"]
    assert [(w.NAME, m) for w, m in config.build_weighers()] == [("FreeRAM", -1.0)]
    with pytest.raises(InvalidInput):
        SchedulerConfig.from_mapping({"filter": ["RAM"]})


def test_registry_names_are_stable():
    assert set(DEFAULT_FILTERS) == set(FILTERS) == {
        "HostEnabled", "ComputeUp", "AvailabilityZone", "VCPU", "RAM", "Disk", "ImageProperties",
        "AggregateImageIsolation", "GuestPolicy", "ServerGroup"}
    assert set(WEIGHERS) == {"FreeRAM", "FreeVCPU", "FreeDisk", "InstanceCount", "LikeImages"}


def test_retired_filter_names_say_what_replaced_them():
    with pytest.raises(InvalidInput) as err:
        SchedulerConfig(filters=("RAM", "MachineFirmware"))
    assert str(err.value) == (
        "scheduler configuration: filter 'MachineFirmware' no longer exists: use GuestPolicy, "
        "which checks machine type, firmware, Secure Boot and TPM with the guest policy's own "
        "rules (kumo lint's ids)")
