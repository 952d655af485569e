"""The EC2 Query API's parameters: ``Action=...&Version=...`` and Amazon's flattened lists and
structures (``InstanceId.1``, ``Filter.1.Name``, ``Filter.1.Value.2``,
``TagSpecification.1.Tag.1.Key``), read from the URL's query string and the form body.

Each action names the parameters it takes (by their first component): any other is
UnknownParameter, as EC2 answers, so a misspelt option is refused instead of ignored. List
indexes are positive integers; the order of the items is their indexes' order.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from kumo.ec2.errors import Ec2Error, invalid, missing

#: parameters of the request itself, taken by every action
COMMON = frozenset({"Action", "Version", "DryRun", "X-Amz-Algorithm", "X-Amz-Credential",
                    "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Expires",
                    "X-Amz-Security-Token", "AWSAccessKeyId"})
MAX_LIST = 1000
_INDEX = re.compile(r"^[1-9][0-9]{0,5}$")
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_VERSION = "2016-11-15"


@dataclass
class Params:
    """The request's parameters (name -> value; a name given twice is refused)."""

    values: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> "Params":
        values: dict[str, str] = {}
        for name, value in pairs:
            if name in values:
                raise Ec2Error("InvalidParameter", f"The parameter {name} is given more than "
                                                   "once: allowed once")
            values[name] = value
        return cls(values)

    @property
    def action(self) -> str:
        action = self.values.get("Action")
        if not action:
            raise Ec2Error("MissingAction", "The request must contain the parameter Action")
        return action

    @property
    def version(self) -> str:
        v = self.values.get("Version", DEFAULT_VERSION)
        if not _VERSION.match(v):
            raise invalid(f"Version {v!r} is invalid: allowed an API version date such as "
                          f"{DEFAULT_VERSION}")
        return v

    def check_known(self, allowed: Iterable[str]) -> None:
        known = COMMON | set(allowed)
        for name in self.values:
            if name.split(".", 1)[0] not in known:
                raise Ec2Error("UnknownParameter",
                               f"The parameter {name[:80]} is not recognized")

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name, default)

    def required(self, name: str) -> str:
        value = self.values.get(name)
        if value is None or value == "":
            raise missing(name)
        return value

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        value = self.values.get(name)
        if value is None:
            return default
        if not re.fullmatch(r"-?\d{1,12}", value) or not low <= int(value) <= high:
            raise invalid(f"Value ({value[:40]}) for parameter {name} is invalid: allowed an "
                          f"integer from {low} to {high}")
        return int(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise invalid(f"Value ({value[:40]}) for parameter {name} is invalid: allowed true, "
                          "false")
        return value.lower() == "true"

    def indexed(self, prefix: str) -> list[tuple[int, str]]:
        """(index, rest of the name) of every ``prefix.N...`` parameter, rest '' for
        ``prefix.N`` itself; a bad index is InvalidParameterValue."""
        out = []
        for name in self.values:
            if not name.startswith(prefix + "."):
                continue
            index, _, rest = name[len(prefix) + 1:].partition(".")
            if not _INDEX.match(index) or int(index) > MAX_LIST:
                raise invalid(f"The parameter {name[:80]} has a bad index {index[:20]!r}: "
                              f"allowed 1 to {MAX_LIST}")
            out.append((int(index), rest))
        return out

    def strings(self, prefix: str) -> list[str]:
        """``prefix.1``, ``prefix.2``, ... in index order."""
        found = sorted({i for i, rest in self.indexed(prefix) if rest == ""})
        for i, rest in self.indexed(prefix):
            if rest:
                raise Ec2Error("UnknownParameter",
                               f"The parameter {prefix}.{i}.{rest[:40]} is not recognized")
        return [self.values[f"{prefix}.{i}"] for i in found]

    def structs(self, prefix: str, members: Iterable[str]) -> list["Params"]:
        """``prefix.N.Member...`` grouped by N (index order), each as Params of its members."""
        members = set(members)
        groups: dict[int, dict[str, str]] = {}
        for i, rest in self.indexed(prefix):
            if not rest or rest.split(".", 1)[0] not in members:
                raise Ec2Error("UnknownParameter", f"The parameter {prefix}.{i}"
                               f"{'.' + rest[:40] if rest else ''} is not recognized")
            groups.setdefault(i, {})[rest] = self.values[f"{prefix}.{i}.{rest}"]
        return [Params(groups[i]) for i in sorted(groups)]

    def filters(self, allowed: Iterable[str]) -> "Filters":
        """``Filter.N.Name`` / ``Filter.N.Value.M``: name -> values (ORed); names ANDed."""
        allowed = tuple(allowed)
        out: dict[str, list[str]] = {}
        for f in self.structs("Filter", ("Name", "Value")):
            name = f.values.get("Name")
            if not name:
                raise missing("Filter.N.Name")
            if name not in allowed and not (name.startswith("tag:") and "tag:" in allowed):
                raise Ec2Error("InvalidParameterValue",
                               f"The filter '{name[:80]}' is invalid: allowed "
                               f"{', '.join(a + 'KEY' if a == 'tag:' else a for a in allowed)}")
            values = f.strings("Value")
            if not values:
                raise missing(f"Filter value for {name[:80]}")
            out.setdefault(name, []).extend(values)
        return Filters(out)

    def base64(self, name: str) -> bytes | None:
        value = self.values.get(name)
        if value is None:
            return None
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise invalid(f"Invalid BASE64 encoding of {name}") from None


@dataclass(frozen=True)
class Filters:
    by_name: dict[str, list[str]]

    def match(self, name: str, value: str | Iterable[str] | None) -> bool:
        """True if the filter ``name`` is not given, or one of its values matches ``value``
        (or one of several): EC2's ``*`` and ``?`` wildcards."""
        wanted = self.by_name.get(name)
        if wanted is None:
            return True
        got = [value] if isinstance(value, str) or value is None else list(value)
        return any(v is not None and fnmatchcase(v, w) for v in got for w in wanted)

    def tags(self, tags: dict[str, str]) -> bool:
        """The tag:KEY, tag-key and tag-value filters against a resource's tags."""
        for name, wanted in self.by_name.items():
            if name.startswith("tag:"):
                key = name[4:]
                if key not in tags or not any(fnmatchcase(tags[key], w) for w in wanted):
                    return False
        return self.match("tag-key", list(tags)) and self.match("tag-value", list(tags.values()))
