"""A small declarative XML mapper: each element or attribute is declared once, as a field.

The same declaration serves both directions (conventions.md #3, after virt-manager's
``XMLProperty("./@offset")``), so building XML and parsing it back cannot drift apart::

    class Timer(XmlNode):
        tag = "timer"
        name = Prop("@name")
        present = Prop("@present", YES_NO)

    class Clock(XmlNode):
        tag = "clock"
        offset = Prop("@offset")
        timers = Children(Timer)

Field kinds (``path`` is relative to the node's own element, ``/``-separated):

    Prop("@attr")           an attribute of the node's element
    Prop("a/b/@attr")       an attribute of a sub-element (created on build, searched on parse)
    Prop("a/b") / Prop(".") the text of a sub-element / of the element itself
    Flag("a")               True when an (empty) sub-element is present: <acpi/>, <readonly/>
    Child(Node, under=...)  one nested node;  Children(Node, under=...)  a list of them

A node in an XML namespace (libvirt's <metadata> holds only namespaced elements) sets ``tag =
"{uri}local"`` and ``nsmap``; its fields' paths stay local and mean elements in its namespace.

Elements and attributes are written in declaration order, so output is deterministic. Parsing
reads only what is declared: anything else in the document (libvirt's expanded defaults,
addresses, aliases, elements kumo does not model) is ignored, never an error.

Nodes compare equal when they are the same class and every field is equal; a node is a plain
mutable value object (not hashable).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator

from lxml import etree

from kumo.errors import InvalidInput

# --- converters: Python value <-> XML string ------------------------------------------------------


@dataclass(frozen=True)
class Converter:
    """How one field's value is spelled in XML. ``from_xml`` raises ValueError when it cannot."""

    name: str
    to_xml: Callable[[Any], str]
    from_xml: Callable[[str], Any]


def _bool_converter(name: str, true: str, false: str) -> Converter:
    def parse(text: str) -> bool:
        if text == true:
            return True
        if text == false:
            return False
        raise ValueError(f"expected {true!r} or {false!r}")

    return Converter(name, lambda v: true if v else false, parse)


STR = Converter("str", str, str)
INT = Converter("int", lambda v: str(int(v)), int)
YES_NO = _bool_converter("yes/no", "yes", "no")
ON_OFF = _bool_converter("on/off", "on", "off")

# --- fields ---------------------------------------------------------------------------------------


def _split(path: str) -> tuple[str | None, str | None]:
    """'a/b/@x' -> ('a/b', 'x'); '@x' -> (None, 'x'); 'a/b' -> ('a/b', None); '.' -> self."""
    if path == ".":
        return None, None
    head, _, last = path.rpartition("/")
    if last.startswith("@"):
        return (head or None), last[1:]
    return path, None


def _namespace(elem: etree._Element) -> str | None:
    tag = elem.tag
    return tag[1:tag.index("}")] if tag[:1] == "{" else None


@functools.lru_cache(maxsize=None)
def _qualified_steps(path: str, ns: str | None) -> tuple[str, ...]:
    """``path``'s steps, each in namespace ``ns``: the fields of a namespaced node (libvirt
    <metadata>) name their sub-elements locally, and they are written and read in the node's
    namespace."""
    return tuple(step if not ns or step.startswith("{") else f"{{{ns}}}{step}"
                 for step in path.split("/"))


@functools.lru_cache(maxsize=None)
def _qualified_path(path: str, ns: str | None) -> str:
    return "/".join(_qualified_steps(path, ns))


def _ensure(elem: etree._Element, path: str | None) -> etree._Element:
    """The sub-element at ``path`` under ``elem``, created (step by step) when missing."""
    if not path:
        return elem
    for step in _qualified_steps(path, _namespace(elem)):
        found = elem.find(step)
        elem = found if found is not None else etree.SubElement(elem, step)
    return elem


def _find(elem: etree._Element, path: str | None) -> etree._Element | None:
    # one ElementPath lookup (lxml compiles and caches it): parsing a domain reads a few
    # hundred fields, and the audit parses every domain of a fleet
    if not path:
        return elem
    return elem.find(_qualified_path(path, _namespace(elem)))


class Field:
    """Base of all field kinds: a data descriptor storing its value on the node instance."""

    name: str = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def default(self) -> Any:
        return None

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        # stored on first read, so ``node.disks.append(...)`` on a fresh node is kept
        return obj.__dict__.setdefault(self.name, self.default())

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value

    def is_default(self, value: Any) -> bool:
        return value == self.default()

    def write(self, value: Any, elem: etree._Element) -> None:
        raise NotImplementedError

    def read(self, elem: etree._Element) -> Any:
        raise NotImplementedError


class Prop(Field):
    """An attribute or the text of an element, converted by ``conv``. None means absent."""

    def __init__(self, path: str, conv: Converter = STR):
        self.path = path
        self.conv = conv
        self._elem_path, self._attr = _split(path)

    def write(self, value: Any, elem: etree._Element) -> None:
        if value is None:
            return
        target = _ensure(elem, self._elem_path)
        text = self.conv.to_xml(value)
        if self._attr:
            target.set(self._attr, text)
        else:
            target.text = text

    def read(self, elem: etree._Element) -> Any:
        target = _find(elem, self._elem_path)
        if target is None:
            return None
        raw = target.get(self._attr) if self._attr else target.text
        if raw is None:
            return None
        try:
            return self.conv.from_xml(raw)
        except ValueError as e:
            where = elem.getroottree().getpath(elem)
            raise InvalidInput(
                f"libvirt XML {where}/{self.path} = {raw!r} is not a valid {self.conv.name}: {e}"
            ) from None


class Flag(Field):
    """True when the empty sub-element ``path`` is present (``<acpi/>``, ``<readonly/>``)."""

    def __init__(self, path: str):
        self.path = path

    def default(self) -> bool:
        return False

    def write(self, value: Any, elem: etree._Element) -> None:
        if value:
            _ensure(elem, self.path)

    def read(self, elem: etree._Element) -> bool:
        return _find(elem, self.path) is not None


class Child(Field):
    """One nested node of class ``node`` (its element named ``node.tag``), optionally ``under``
    an intermediate element path."""

    def __init__(self, node: type["XmlNode"], under: str | None = None):
        self.node = node
        self.under = under

    @property
    def _path(self) -> str:
        return f"{self.under}/{self.node.tag}" if self.under else self.node.tag

    def write(self, value: Any, elem: etree._Element) -> None:
        if value is not None:
            _ensure(elem, self.under).append(value.to_element())

    def read(self, elem: etree._Element) -> Any:
        found = elem.find(self._path)
        return None if found is None else self.node.from_element(found)


class Children(Child):
    """A list of nested nodes of class ``node`` (always a list; empty when none)."""

    def default(self) -> list:
        return []

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = list(value or ())

    def write(self, value: Any, elem: etree._Element) -> None:
        if value:
            parent = _ensure(elem, self.under)
            for item in value:
                parent.append(item.to_element())

    def read(self, elem: etree._Element) -> list:
        return [self.node.from_element(e) for e in elem.iterfind(self._path)]


# --- nodes ----------------------------------------------------------------------------------------

_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)


class XmlNode:
    """Base of every modelled element. Subclasses set ``tag`` and declare fields."""

    tag: ClassVar[str]
    #: prefixes for a namespaced node (tag ``{uri}local``), e.g. {"kumo": uri}
    nsmap: ClassVar[dict[str, str] | None] = None
    _fields: ClassVar[tuple[Field, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, Field] = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, Field):
                    fields[key] = value
        cls._fields = tuple(fields.values())

    def __init__(self, **values: Any):
        names = {f.name for f in self._fields}
        for key, value in values.items():
            if key not in names:
                raise TypeError(f"{type(self).__name__} has no field {key!r}")
            setattr(self, key, value)

    def _values(self) -> Iterator[tuple[Field, Any]]:
        for f in self._fields:
            yield f, f.__get__(self)

    # -- building and parsing, both driven by the one list of fields

    def to_element(self) -> etree._Element:
        elem = etree.Element(self.tag, nsmap=self.nsmap)
        for f, value in self._values():
            f.write(value, elem)
        return elem

    @classmethod
    def from_element(cls, elem: etree._Element) -> "XmlNode":
        if elem.tag != cls.tag:
            raise InvalidInput(f"expected a libvirt <{cls.tag}> element, got <{elem.tag}>")
        node = cls.__new__(cls)
        for f in cls._fields:
            f.__set__(node, f.read(elem))
        return node

    def to_xml(self) -> str:
        """Pretty-printed (two-space indent), deterministic, no XML declaration."""
        elem = self.to_element()
        etree.indent(elem, space="  ")
        return etree.tostring(elem, encoding="unicode") + "\n"

    @classmethod
    def from_xml(cls, text: str | bytes) -> "XmlNode":
        data = text.encode() if isinstance(text, str) else text
        try:
            root = etree.fromstring(data, _PARSER)
        except etree.XMLSyntaxError as e:
            raise InvalidInput(f"not well-formed libvirt XML: {e}") from None
        return cls.from_element(root)

    # -- value semantics

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(value == f.__get__(other) for f, value in self._values())

    __hash__ = None  # type: ignore[assignment]  # mutable value object

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={v!r}" for f, v in self._values() if not f.is_default(v))
        return f"{type(self).__name__}({shown})"
