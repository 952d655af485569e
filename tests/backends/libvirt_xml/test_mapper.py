"""The declarative mapper: one field declaration builds and parses the same XML."""

from __future__ import annotations

import pytest

from kumo.backends.libvirt_xml import (
    INT,
    ON_OFF,
    YES_NO,
    Child,
    Children,
    Clock,
    Disk,
    Domain,
    Flag,
    Hyperv,
    Prop,
    Timer,
    XmlNode,
)
from kumo.backends.libvirt_xml.naming import disk_suffix, disk_target_name, target_names
from kumo.errors import InvalidInput


class Leaf(XmlNode):
    tag = "leaf"
    name = Prop("@name")


class Sample(XmlNode):
    """One field of every kind, in a deliberately mixed order."""

    tag = "sample"
    kind = Prop("@kind")
    count = Prop("@count", INT)
    title = Prop("title")
    lang = Prop("title/@lang")
    deep = Prop("a/b/@c", YES_NO)
    state = Prop("s/@state", ON_OFF)
    marked = Flag("marked")
    text = Prop(".")
    first = Child(Leaf)
    leaves = Children(Leaf, under="list")


FULL = Sample(kind="k", count=3, title="T", lang="en", deep=True, state=False, marked=True,
              first=Leaf(name="one"), leaves=[Leaf(name="x"), Leaf(name="y")])
FULL_XML = """\
<sample kind="k" count="3">
  <title lang="en">T</title>
  <a>
    <b c="yes"/>
  </a>
  <s state="off"/>
  <marked/>
  <leaf name="one"/>
  <list>
    <leaf name="x"/>
    <leaf name="y"/>
  </list>
</sample>
"""


def test_build_writes_fields_in_declaration_order():
    assert FULL.to_xml() == FULL_XML


def test_parse_reads_every_field_back():
    assert Sample.from_xml(FULL_XML) == FULL


def test_absent_fields_write_nothing_and_parse_as_defaults():
    empty = Sample()
    assert empty.to_xml() == "<sample/>\n"
    parsed = Sample.from_xml("<sample/>")
    assert (parsed.kind, parsed.count, parsed.marked, parsed.first, parsed.leaves) == (
        None, None, False, None, [])
    assert parsed == empty


def test_a_fresh_nodes_list_can_be_appended_to():
    node = Sample()
    node.leaves.append(Leaf(name="x"))
    assert node.leaves == [Leaf(name="x")]
    assert Sample().leaves == []


def test_text_of_the_element_itself():
    assert Sample(text="hello").to_xml() == "<sample>hello</sample>\n"
    assert Sample.from_xml("<sample>hello</sample>").text == "hello"


def test_unknown_content_is_ignored():
    xml = """<sample kind="k" extra="1"><alias name="x"/><title lang="en" x="y">T</title>
             <address type="pci"/><leaf name="one"><sub/></leaf><!-- note --></sample>"""
    assert Sample.from_xml(xml) == Sample(kind="k", title="T", lang="en", first=Leaf(name="one"))


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ('<sample count="three"/>',
         "libvirt XML /sample/@count = 'three' is not a valid int: "
         "invalid literal for int() with base 10: 'three'"),
        ('<sample><a><b c="maybe"/></a></sample>',
         "libvirt XML /sample/a/b/@c = 'maybe' is not a valid yes/no: expected 'yes' or 'no'"),
        ('<sample><s state="yes"/></sample>',
         "libvirt XML /sample/s/@state = 'yes' is not a valid on/off: expected 'on' or 'off'"),
        ("<other/>", "expected a libvirt <sample> element, got <other>"),
    ],
    ids=["int", "yes-no", "on-off", "wrong-root"],
)
def test_invalid_values_name_the_path_and_value(xml, message):
    with pytest.raises(InvalidInput) as err:
        Sample.from_xml(xml)
    assert str(err.value) == message


def test_malformed_xml_is_invalid_input():
    with pytest.raises(InvalidInput, match="not well-formed libvirt XML"):
        Sample.from_xml("<sample>")


def test_unknown_keyword_is_a_programming_error():
    with pytest.raises(TypeError, match="Sample has no field 'colour'"):
        Sample(colour="red")


def test_equality_is_by_class_and_every_field():
    assert Leaf(name="a") == Leaf(name="a")
    assert Leaf(name="a") != Leaf(name="b")
    assert Leaf(name="a") != Timer(name="a")
    assert Sample(leaves=(Leaf(name="a"),)) == Sample(leaves=[Leaf(name="a")])


def test_repr_shows_only_set_fields():
    assert repr(Sample(kind="k", first=Leaf(name="x"))) == "Sample(kind='k', first=Leaf(name='x'))"


def test_fields_are_inherited_in_order():
    class Base(XmlNode):
        tag = "base"
        a = Prop("@a")

    class Derived(Base):
        tag = "derived"
        b = Prop("@b")

    assert Derived(a="1", b="2").to_xml() == '<derived a="1" b="2"/>\n'


# --- the domain model's declarations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "xml"),
    [
        (Clock(offset="localtime", timers=[Timer(name="hpet", present=False)]),
         '<clock offset="localtime">\n  <timer name="hpet" present="no"/>\n</clock>\n'),
        (Hyperv(mode="custom", spinlocks=True, spinlocks_retries=8191, stimer=True,
                stimer_direct=True),
         '<hyperv mode="custom">\n  <spinlocks state="on" retries="8191"/>\n'
         '  <stimer state="on">\n    <direct state="on"/>\n  </stimer>\n</hyperv>\n'),
        (Disk(type="file", device="cdrom", source_file="/c.iso", target_dev="sda",
              target_bus="sata", readonly=True),
         '<disk type="file" device="cdrom">\n  <source file="/c.iso"/>\n'
         '  <target dev="sda" bus="sata"/>\n  <readonly/>\n</disk>\n'),
    ],
    ids=["clock-timer", "hyperv-spinlocks-stimer-direct", "disk-cdrom"],
)
def test_model_elements_build_and_parse(node, xml):
    assert node.to_xml() == xml
    assert type(node).from_xml(xml) == node


@pytest.mark.parametrize(
    ("memory", "unit", "mib"),
    [(524288, None, 512), (524288, "KiB", 512), (2, "GiB", 2048), (512, "MiB", 512),
     (1073741824, "bytes", 1024), (1000000, "KB", 1000000 * 1000 / 2**20)],
    ids=["default-kib", "kib", "gib", "mib", "bytes", "decimal-kb"],
)
def test_domain_memory_in_mib(memory, unit, mib):
    assert Domain(memory=memory, memory_unit=unit).memory_mib() == mib


# --- disk target names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "suffix"),
    [(0, "a"), (1, "b"), (25, "z"), (26, "aa"), (27, "ab"), (52, "ba"), (701, "zz"), (702, "aaa")],
    ids=lambda v: str(v),
)
def test_disk_suffix_is_bijective_base_26(index, suffix):
    assert disk_suffix(index) == suffix


@pytest.mark.parametrize(
    ("bus", "index", "name"),
    [("virtio", 0, "vda"), ("scsi", 1, "sdb"), ("sata", 2, "sdc"), ("usb", 0, "sda"),
     ("ide", 3, "hdd"), ("xen", 0, "xvda"), ("fdc", 0, "fda")],
    ids=["virtio", "scsi", "sata", "usb", "ide", "xen", "fdc"],
)
def test_disk_target_name_by_bus(bus, index, name):
    assert disk_target_name(bus, index) == name


def test_buses_sharing_a_prefix_share_one_sequence():
    assert target_names(["virtio", "sata", "virtio", "scsi", "usb", "ide", "xen"]) == [
        "vda", "sda", "vdb", "sdb", "sdc", "hda", "xvda"]
