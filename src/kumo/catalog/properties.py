"""Parse and normalise Glance image properties against the schema.

``ImageProperties.parse`` is the one way raw strings become typed values. Every invalid value is
reported at once, each naming the property, the value and what is allowed; unknown properties
(CERN's release_date, recommended, os_edition, upstream_provider, ...) are kept verbatim.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from kumo.catalog.schema import (ALIASES, CHECKERS, FALSE_WORDS, PROPERTIES, TRUE_WORDS,
                                 PropertyDef, parse_version_spec)
from kumo.errors import InvalidInput, InvalidProperty, PropertyProblem


def canonical_name(name: str) -> str:
    """The schema's name for ``name`` (legacy aliases resolved); unknown names unchanged."""
    return ALIASES.get(name, name)


def _normalise(d: PropertyDef, raw: Any) -> Any:
    """Typed value for ``raw``; raises ValueError when it is not allowed."""
    text = str(raw).strip() if not isinstance(raw, bool) else ("true" if raw else "false")
    if d.kind in ("enum", "list"):
        words = [text] if d.kind == "enum" else [w for w in re.split(r"[,\s]+", text) if w]
        out = []
        for w in words:
            w = w.lower()
            w = d.synonyms.get(w, w)
            if w not in d.choices:
                raise ValueError(raw)
            out.append(w)
        if d.kind == "enum":
            return out[0]
        return tuple(dict.fromkeys(out))
    if d.kind == "bool":
        low = text.lower()
        if low in TRUE_WORDS:
            return True
        if low in FALSE_WORDS:
            return False
        raise ValueError(raw)
    if d.kind == "int":
        value = int(text)
        if d.minimum is not None and value < d.minimum:
            raise ValueError(raw)
        return value
    if d.kind == "version_spec":
        return ",".join(op + ".".join(map(str, v)) for op, v in parse_version_spec(text))
    if d.kind == "pattern":
        low = text.lower()
        if not re.match(d.pattern or "", low):
            raise ValueError(raw)
        return low
    if d.kind in CHECKERS:
        if not CHECKERS[d.kind](text):
            raise ValueError(raw)
        return text
    if d.name == "os_distro":
        return text.lower()
    return text


def _render(value: Any) -> str:
    """Typed value back to the string Glance stores."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


@dataclass(frozen=True)
class ImageProperties:
    """Validated image properties: typed known ones and verbatim custom ones."""

    values: Mapping[str, Any] = field(default_factory=dict)
    custom: Mapping[str, str] = field(default_factory=dict)
    #: canonical name -> (the name as given, the value as given), for explain's provenance
    given: Mapping[str, tuple[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> "ImageProperties":
        values: dict[str, Any] = {}
        custom: dict[str, str] = {}
        given: dict[str, tuple[str, Any]] = {}
        problems: list[PropertyProblem] = []
        for name, value in raw.items():
            canon = canonical_name(name)
            d = PROPERTIES.get(canon)
            if d is None:
                custom[name] = value if isinstance(value, str) else json.dumps(value)
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                continue  # Glance shows unset optional attributes as null/empty
            if canon in given and given[canon][0] != name:
                first = given[canon]
                if str(first[1]).strip() != str(value).strip():
                    problems.append(PropertyProblem(
                        name, value, f"the same value as its alias {first[0]}={first[1]!r} "
                        f"(both name {canon})"))
                    continue
            try:
                values[canon] = _normalise(d, value)
            except ValueError:
                problems.append(PropertyProblem(name, value, d.allowed()))
                continue
            given[canon] = (name, value)
        if problems:
            raise InvalidProperty(problems)
        return cls(MappingProxyType(values), MappingProxyType(custom), MappingProxyType(given))

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(canonical_name(name), default)

    def __contains__(self, name: str) -> bool:
        return canonical_name(name) in self.values

    def source(self, name: str) -> tuple[str, Any]:
        """(name as the operator wrote it, value as written) for a set property."""
        canon = canonical_name(name)
        return self.given.get(canon, (canon, _render(self.values[canon])))

    def updated(self, changes: Mapping[str, Any], remove: Iterable[str] = ()) -> "ImageProperties":
        """A new, re-validated set with ``changes`` applied and ``remove`` unset."""
        raw = self.to_glance()
        for name in remove:
            raw.pop(canonical_name(name), None)
            raw.pop(name, None)
        for name, value in changes.items():
            raw.pop(canonical_name(name), None)
            raw[canonical_name(name)] = value
        return ImageProperties.parse(raw)

    def to_glance(self) -> dict[str, str]:
        """All properties as Glance strings, canonical names, custom ones verbatim."""
        out = {name: _render(v) for name, v in self.values.items()}
        out.update(self.custom)
        return out


# --- Glance v2 image documents ---------------------------------------------------------------------

#: Image attributes that are not properties (Glance v2 image schema), kept in ImageDocument.attrs.
CORE_ATTRIBUTES = frozenset({
    "id", "name", "status", "visibility", "protected", "owner", "size", "virtual_size", "checksum",
    "os_hash_algo", "os_hash_value", "created_at", "updated_at", "tags", "file", "schema", "self",
    "direct_url", "locations", "os_hidden", "stores", "project_id",
})


@dataclass(frozen=True)
class ImageDocument:
    """A Glance v2 image: its core attributes and its validated properties."""

    name: str
    properties: ImageProperties
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "ImageDocument":
        """Accepts properties top-level (Glance API) or under "properties" (openstack CLI)."""
        if not isinstance(doc, Mapping):
            raise InvalidInput("an image document must be a JSON object")
        raw: dict[str, Any] = {}
        attrs: dict[str, Any] = {}
        for key, value in doc.items():
            if key == "properties":
                if isinstance(value, str):  # older openstack CLI prints "k='v', k2='v2'"
                    value = dict(re.findall(r"(\w+)='([^']*)'", value))
                if not isinstance(value, Mapping):
                    raise InvalidInput("the image's \"properties\" must be an object")
                raw.update(value)
            elif key in CORE_ATTRIBUTES:
                attrs[key] = value
            else:
                raw[key] = value
        return cls(str(doc.get("name") or doc.get("id") or "image"), ImageProperties.parse(raw),
                   MappingProxyType(attrs))

    @classmethod
    def load(cls, path: str | Path) -> "ImageDocument":
        p = Path(path)
        try:
            doc = json.loads(p.read_text())
        except FileNotFoundError:
            raise InvalidInput(f"image file {str(p)!r} does not exist") from None
        except json.JSONDecodeError as e:
            raise InvalidInput(f"image file {str(p)!r} is not valid JSON: {e}") from None
        return cls.from_json(doc)
