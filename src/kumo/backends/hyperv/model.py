"""The Hyper-V VM description: what kumo asks a Hyper-V host to create, as plain values.

One dataclass per Hyper-V object the PowerShell touches (the VM, its firmware, drives, network
adapters). The JSON form is derived from the same declarations in both directions
(``to_json`` / ``from_json``), so the description written and the one read back cannot drift
apart (conventions.md #3). Values use Hyper-V's own vocabulary (ControllerType IDE/SCSI,
generation 1/2, the Secure Boot template names Set-VMFirmware takes).

No decisions are made here; ``kumo.backends.hyperv.translate`` fills it from a GuestSpec.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from kumo.errors import InvalidInput

#: identifies the document and its version, so a stored description can be read back safely
FORMAT = "kumo.hyperv.vm/1"


@dataclass(frozen=True)
class Firmware:
    """Set-VMFirmware (generation 2 only: gen 1 has a BIOS and no Secure Boot)."""

    secure_boot: bool
    #: -SecureBootTemplate: MicrosoftWindows | MicrosoftUEFICertificateAuthority (None: off)
    secure_boot_template: str | None = None


@dataclass(frozen=True)
class HardDrive:
    """Add-VMHardDiskDrive; ``create_size_bytes`` set: kumo creates the blank VHD(X) first."""

    role: str  # root | ephemeral (the GuestSpec disk role it realises)
    controller_type: str  # IDE | SCSI
    controller_number: int
    controller_location: int
    path: str
    format: str  # vhd | vhdx
    create_size_bytes: int | None = None


@dataclass(frozen=True)
class DvdDrive:
    """Add-VMDvdDrive: on the IDE controller for gen 1, on SCSI for gen 2 (Hyper-V decides
    the controller type from the VM's generation; it is recorded here for the reader)."""

    role: str  # config (the config drive ISO)
    controller_type: str
    controller_number: int
    controller_location: int
    path: str


@dataclass(frozen=True)
class NetworkAdapter:
    """Add-VMNetworkAdapter (-IsLegacy: the emulated DEC 21140 a gen 1 guest without the
    synthetic driver can use)."""

    name: str
    switch: str | None = None  # None: created unconnected
    legacy: bool = False
    static_mac: str | None = None  # Hyper-V form: 12 hex digits, no separators


@dataclass(frozen=True)
class VmDescription:
    name: str
    generation: int  # 1 | 2
    #: Set-VM -Notes: the kumo instance uuid, so the host's VM is identified exactly
    notes: str
    memory_startup_bytes: int
    dynamic_memory: bool
    processor_count: int
    #: gen 2: Set-VMFirmware; gen 1: None (BIOS)
    firmware: Firmware | None
    #: the role of the drive the VM boots from (gen 2: -FirstBootDevice; gen 1: BIOS order)
    boot_role: str
    #: SCSI controllers the VM needs (gen 2 creates controller 0 itself)
    scsi_controllers: int
    hard_drives: tuple[HardDrive, ...] = ()
    dvd_drives: tuple[DvdDrive, ...] = ()
    network_adapters: tuple[NetworkAdapter, ...] = ()
    #: the Time Synchronization integration service (the guest takes the host's time)
    time_sync: bool = True

    def to_json(self) -> str:
        """Indented, key order as declared, ends with a newline."""
        return json.dumps({"format": FORMAT, **_to_plain(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "VmDescription":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidInput(f"Hyper-V VM description is not valid JSON: {e}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InvalidInput(f"not a kumo Hyper-V VM description: format {got!r}, "
                               f"expected {FORMAT!r}")
        return _from_plain(cls, {k: v for k, v in data.items() if k != "format"}, "")


# --- one generic mapping between the dataclasses above and JSON values ---------------------------


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_to_plain(v) for v in value]
    return value


def _from_plain(tp: Any, data: Any, where: str) -> Any:
    """``data`` (parsed JSON) as type ``tp``; InvalidInput naming the path when it does not fit."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if data is None and type(None) in options:
            return None
        (inner,) = [t for t in options if t is not type(None)]
        return _from_plain(inner, data, where)
    if origin is tuple:
        if not isinstance(data, list):
            raise _bad(where, data, "a list")
        (item,) = [t for t in typing.get_args(tp) if t is not Ellipsis]
        return tuple(_from_plain(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise _bad(where, data, "an object")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidInput(f"Hyper-V VM description {where or 'root'}: unknown field(s) "
                               f"{', '.join(unknown)}")
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _from_plain(hints[f.name], data[f.name],
                                             f"{where}.{f.name}" if where else f.name)
            elif f.default is dataclasses.MISSING:
                raise InvalidInput(f"Hyper-V VM description lacks {where + '.' if where else ''}"
                                   f"{f.name}")
        return tp(**kwargs)
    # bool is an int in Python: check it first so 1 is not accepted as True or True as 1
    if tp is bool:
        if not isinstance(data, bool):
            raise _bad(where, data, "true or false")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise _bad(where, data, "an integer")
        return data
    if tp is str:
        if not isinstance(data, str):
            raise _bad(where, data, "a string")
        return data
    raise TypeError(f"unmodelled type {tp!r} at {where}")  # a programming error


def _bad(where: str, value: Any, allowed: str) -> InvalidInput:
    return InvalidInput(f"Hyper-V VM description {where or 'root'}={value!r} is invalid: "
                        f"allowed {allowed}")
