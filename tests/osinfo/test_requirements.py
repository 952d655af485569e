"""Minimum and recommended RAM and disk per release, from osinfo-db (inherited along
derives-from) or, for releases newer than the installed db, kumo's cited figures."""

from pathlib import Path

import pytest

from kumo.osinfo import osinfo_db
from kumo.osinfo.osinfo_db import OsinfoDb
from kumo.osinfo.requirements import Requirements, requirements


@pytest.mark.parametrize("short_id, expected", [
    ("win11", Requirements(4096, 64, None, None, "osinfo-db win-11.xml")),
    ("win2k19", Requirements(512, 32, 2048, 40, "osinfo-db win-2k19.xml")),
    ("winxp", Requirements(256, 2, 512, 10, "osinfo-db win-xp.xml")),
    ("ubuntu22.04", Requirements(2048, 10, 4096, 25, "osinfo-db ubuntu-22.04.xml")),
    ("win2k25", Requirements(512, 32, 2048, 32, "Microsoft's Windows Server 2025 requirements")),
], ids=["win11", "win2k19", "winxp-x86_64-entry", "ubuntu-all-entry", "newer-than-db"])
def test_requirements_of_real_releases(short_id, expected):
    assert requirements(short_id) == expected


def test_unknown_release_has_none():
    assert requirements(None) is None and requirements("nosuchos9") is None


def _os(uri, short, parent=None, resources=""):
    derives = f'<derives-from id="{parent}"/>' if parent else ""
    return (f'<?xml version="1.0"?><libosinfo version="0.0.1"><os id="{uri}"><short-id>{short}'
            f"</short-id><name>{short}</name>{derives}{resources}</os></libosinfo>")


def test_a_release_without_resources_inherits_its_parents(tmp_path: Path):
    vendor = tmp_path / "os" / "example.org"
    vendor.mkdir(parents=True)
    (vendor / "bar-1.xml").write_text(_os(
        "http://example.org/bar/1", "bar1", resources=(
            '<resources arch="all"><minimum><ram>1073741824</ram><storage>5368709120</storage>'
            "</minimum></resources>")))
    (vendor / "bar-2.xml").write_text(_os("http://example.org/bar/2", "bar2",
                                          parent="http://example.org/bar/1"))
    got = requirements("bar2", db=OsinfoDb(tmp_path))
    assert got == Requirements(1024, 5, None, None, "osinfo-db bar-1.xml")


def test_a_release_with_its_own_figures_reads_no_ancestor(tmp_path: Path, monkeypatch):
    vendor = tmp_path / "os" / "example.org"
    vendor.mkdir(parents=True)
    figures = ('<resources arch="x86_64"><minimum><ram>2147483648</ram></minimum></resources>')
    (vendor / "bar-1.xml").write_text(_os("http://example.org/bar/1", "bar1", resources=figures))
    (vendor / "bar-2.xml").write_text(_os("http://example.org/bar/2", "bar2",
                                          parent="http://example.org/bar/1", resources=figures))
    parsed = []
    real = osinfo_db.parse_file
    monkeypatch.setattr(osinfo_db, "parse_file", lambda p: parsed.append(p.name) or real(p))
    got = requirements("bar2", db=OsinfoDb(tmp_path))
    assert got == Requirements(2048, None, None, None, "osinfo-db bar-2.xml")
    assert parsed == ["bar-2.xml"]  # bar-1.xml (what it derives from) was never read
