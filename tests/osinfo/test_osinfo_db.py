"""osinfo-db: lookups of short ids kumo's tables do not list, inheritance, laziness, absence,
and the cross-check of kumo's Windows table against the installed db."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kumo.osinfo import OSIdentity, resolve
from kumo.osinfo import osinfo_db
from kumo.osinfo.osinfo_db import OsinfoDb
from kumo.osinfo.windows import OSINFO_DB_NIC_DIVERGENCES, OSINFO_DB_VERSION_ERRORS, RELEASES

FOO1 = """<?xml version="1.0"?>
<libosinfo version="0.0.1">
  <os id="http://example.org/foo/1">
    <short-id>foo1</short-id>
    <name xml:lang="fr">Le Foo 1</name>
    <name>Foo OS 1</name>
    <version>1</version>
    <family>linux</family>
    <distro>foo</distro>
    <resources arch="x86_64"/>
    <media arch="i686"/>
    <devices>
      <device id="http://pcisig.com/pci/1af4/1001"/>
      <device id="http://pcisig.com/pci/8086/100e"/>
      <device id="http://qemu.org/chipset/x86/q35"/>
    </devices>
    <firmware arch="x86_64" type="efi"/>
  </os>
</libosinfo>
"""
FOO2 = """<?xml version="1.0"?>
<libosinfo version="0.0.1">
  <os id="http://example.org/foo/2">
    <short-id>foo2</short-id>
    <short-id>foo-latest</short-id>
    <name>Foo OS 2</name>
    <version>2</version>
    <family>linux</family>
    <distro>foo</distro>
    <derives-from id="http://example.org/foo/1"/>
    <resources arch="x86_64"/>
    <devices>
      <device id="http://pcisig.com/pci/8086/100e" supported="false"/>
      <device id="http://pcisig.com/pci/1af4/1041"/>
    </devices>
    <firmware arch="x86_64" type="bios" supported="false"/>
  </os>
</libosinfo>
"""
RETRO = """<?xml version="1.0"?>
<libosinfo version="0.0.1">
  <os id="http://example.org/retro/95">
    <short-id>retro95</short-id>
    <name>Retro Windows 95</name>
    <version>4.0</version>
    <family>win9x</family>
    <distro>win</distro>
    <resources arch="i686"/>
  </os>
</libosinfo>
"""
JAMMY = """<?xml version="1.0"?>
<libosinfo version="0.0.1">
  <os id="http://example.org/ubuntu/22.04">
    <short-id>ubuntu22.04</short-id>
    <short-id>ubuntujammyjellyfish</short-id>
    <name>Ubuntu 22.04 LTS</name>
    <version>22.04</version>
    <family>linux</family>
    <distro>ubuntu</distro>
  </os>
</libosinfo>
"""


@pytest.fixture
def fake_db(tmp_path: Path) -> OsinfoDb:
    vendor = tmp_path / "os" / "example.org"
    vendor.mkdir(parents=True)
    (vendor / "foo-1.xml").write_text(FOO1)
    (vendor / "foo-2.xml").write_text(FOO2)
    (vendor / "retro-95.xml").write_text(RETRO)
    (vendor / "ubuntu-22.04.xml").write_text(JAMMY)
    (vendor / "broken.xml").write_text("<libosinfo><os id='x'><short-id>broken</short-id>")
    (vendor / "foo-2.d").mkdir()  # driver folders are not OS entries
    (vendor / "foo-2.d" / "drivers.xml").write_text(FOO2.replace("foo2", "foodrivers"))
    return OsinfoDb(tmp_path)


def test_lookup_of_a_short_id_kumo_does_not_list(fake_db, tmp_path):
    path = tmp_path / "os" / "example.org" / "foo-1.xml"
    assert resolve("foo1", None, db=fake_db) == OSIdentity(
        family="linux", distro="foo", short_id="foo1", name="Foo OS 1", version="1",
        release_known=True, bits64=True, requires_64bit=False, q35=True, uefi=True,
        requires_uefi=False, secure_boot=False, requires_secure_boot=False, requires_tpm2=False,
        inbox_drivers=frozenset({"ide", "virtio-blk", "e1000"}), hyperv_gen2=False, xen_pv=False,
        source=f"osinfo-db {path}",
        matched_by=f"os_distro='foo1' (libosinfo short id) -> osinfo-db {path}",
    )


def test_devices_and_firmware_are_inherited_and_can_be_withdrawn(fake_db):
    ident = resolve("FOO-LATEST", None, db=fake_db)  # second short id, any case
    assert (ident.short_id, ident.name, ident.q35) == ("foo2", "Foo OS 2", True)
    assert ident.inbox_drivers == frozenset({"ide", "virtio-blk", "virtio-net"})  # e1000 withdrawn
    assert (ident.uefi, ident.requires_uefi, ident.bits64, ident.requires_64bit) == (True, True, True, True)


def test_db_windows_family_and_32_bit_only(fake_db):
    ident = resolve("retro95", None, db=fake_db)
    assert (ident.family, ident.distro, ident.version, ident.bits64, ident.q35) == (
        "windows", "win", "4.0", False, False)
    assert ident.inbox_drivers == frozenset({"ide"})


def test_db_release_of_a_distro_kumo_knows_gets_kumo_facts(fake_db, tmp_path):
    path = tmp_path / "os" / "example.org" / "ubuntu-22.04.xml"
    ident = resolve("ubuntujammyjellyfish", None, db=fake_db)
    assert (ident.short_id, ident.name, ident.kernel, ident.hyperv_gen2) == (
        "ubuntu22.04", "Ubuntu 22.04", "5.15", True)
    assert ident.source == f"kumo table (release from osinfo-db {path})"


def test_broken_files_and_driver_folders_are_skipped(fake_db):
    assert resolve("broken", None, db=fake_db).family == "unknown"
    assert resolve("foodrivers", None, db=fake_db).family == "unknown"


def test_db_absent_degrades_to_the_tables():
    db = OsinfoDb("/nonexistent/osinfo")
    assert db.available is False
    assert resolve("alpinelinux3.16", None, db=db).matched_by == (
        "os_distro='alpinelinux3.16' not recognised (no osinfo-db at /nonexistent/osinfo)")
    assert resolve("win2k12r2", None, db=db).short_id == "win2k12r2"
    assert resolve("ubuntu", "22.04", db=db).short_id == "ubuntu22.04"


def test_tables_answer_without_touching_the_db(fake_db):
    resolve("windows", "2012R2", db=fake_db)
    resolve("centos7.0", None, db=fake_db)
    assert "_index" not in vars(fake_db)  # the folder was never scanned


def test_each_file_is_parsed_once(fake_db, monkeypatch):
    calls = []
    real = osinfo_db.parse_file
    monkeypatch.setattr(osinfo_db, "parse_file", lambda p: calls.append(p) or real(p))
    for _ in range(3):
        resolve("foo2", None, db=fake_db)
    assert sorted(p.name for p in calls) == ["foo-1.xml", "foo-2.xml"]


def test_nothing_is_read_on_import():
    code = ("import kumo.osinfo; from kumo.osinfo.osinfo_db import default_db; "
            "kumo.osinfo.resolve('windows', '7'); print(default_db.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def _cached_db(root: Path, cache: Path, scans: list[Path]) -> OsinfoDb:
    """A db whose folder scans are counted in ``scans``."""
    db = OsinfoDb(root, index_cache=cache)
    real = db._scan
    db._scan = lambda *a: scans.append(root) or real(*a)
    return db


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "kumo" / "osinfo-index.json"


def test_index_cache_spares_the_next_process_the_scan(fake_db, tmp_path, cache):
    scans: list[Path] = []
    first = _cached_db(tmp_path, cache, scans).lookup("foo2")
    second = _cached_db(tmp_path, cache, scans).lookup("foo2")
    assert scans == [tmp_path]  # the second db read the index from the cache
    assert first == second and second.name == "Foo OS 2"
    assert _cached_db(tmp_path, cache, scans).by_uri("http://example.org/foo/1").name == "Foo OS 1"
    assert len(scans) == 1


def test_index_cache_is_refreshed_when_a_file_is_added_or_removed(fake_db, tmp_path, cache):
    scans: list[Path] = []
    assert _cached_db(tmp_path, cache, scans).lookup("bar1") is None
    bar = tmp_path / "os" / "example.org" / "bar-1.xml"
    bar.write_text(FOO1.replace("foo1", "bar1").replace("foo/1", "bar/1"))
    assert _cached_db(tmp_path, cache, scans).lookup("bar1").uri == "http://example.org/bar/1"
    (tmp_path / "os" / "example.org" / "foo-1.xml").unlink()
    assert _cached_db(tmp_path, cache, scans).lookup("foo1") is None
    assert len(scans) == 3  # each change of the folder rescanned it


def test_index_cache_entry_of_a_file_edited_in_place_is_rescanned(fake_db, tmp_path, cache):
    scans: list[Path] = []
    assert _cached_db(tmp_path, cache, scans).lookup("foo1") is not None
    foo1 = tmp_path / "os" / "example.org" / "foo-1.xml"
    folder = foo1.parent.stat()
    foo1.write_text(FOO1.replace("<short-id>foo1<", "<short-id>foo1b<"))  # no rename
    os.utime(foo1.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))  # fingerprint unchanged
    db = _cached_db(tmp_path, cache, scans)
    assert db.lookup("foo1") is None  # the index's hit was checked against the file: rescanned
    assert db.lookup("foo1b").name == "Foo OS 1"
    assert len(scans) == 2


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'{"root": 1}'],
                         ids=["empty", "not-json", "a-list", "wrong-shape"])
def test_index_cache_that_is_not_ours_is_replaced(fake_db, tmp_path, cache, content):
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content)
    scans: list[Path] = []
    assert _cached_db(tmp_path, cache, scans).lookup("foo2").name == "Foo OS 2"
    assert _cached_db(tmp_path, cache, scans).lookup("foo2").name == "Foo OS 2"
    assert len(scans) == 1


def test_index_cache_of_another_folder_is_not_used(fake_db, tmp_path, cache):
    other = tmp_path / "other"
    (other / "os" / "example.org").mkdir(parents=True)
    (other / "os" / "example.org" / "retro-95.xml").write_text(RETRO.replace("retro95", "r95"))
    scans: list[Path] = []
    assert _cached_db(tmp_path, cache, scans).lookup("retro95") is not None
    assert _cached_db(other, cache, scans).lookup("retro95") is None
    assert _cached_db(other, cache, scans).lookup("r95").name == "Retro Windows 95"
    assert scans == [tmp_path, other]


def test_unwritable_index_cache_only_costs_the_scan(fake_db, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    scans: list[Path] = []
    for _ in range(2):
        assert _cached_db(tmp_path, blocker / "osinfo-index.json", scans).lookup("foo1") is not None
    assert len(scans) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "os"]  # no temporary left


def test_process_wide_db_keeps_its_index_in_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    osinfo_db.default_db.cache_clear()
    try:
        assert osinfo_db.default_db().index_cache == tmp_path / "kumo" / "osinfo-index.json"
    finally:
        osinfo_db.default_db.cache_clear()


def test_default_location_honours_libosinfo_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv("OSINFO_SYSTEM_DIR", str(tmp_path))
    assert OsinfoDb().root == tmp_path
    monkeypatch.delenv("OSINFO_SYSTEM_DIR")
    assert OsinfoDb().root == Path("/usr/share/osinfo")


# --- against the installed osinfo-db (Debian package osinfo-db) ----------------------------------

REAL = OsinfoDb()
needs_db = pytest.mark.skipif(not REAL.available, reason="osinfo-db is not installed")
NICS = {"e1000", "e1000e", "rtl8139"}


@needs_db
def test_real_db_resolves_windows_2000():
    ident = resolve("win2k", None, db=REAL)
    assert (ident.family, ident.name, ident.version, ident.bits64, ident.release_known) == (
        "windows", "Microsoft Windows 2000", "5.0", False, True)
    assert ident.source.startswith("osinfo-db ") and ident.source.endswith("/os/microsoft.com/win-2k.xml")


@needs_db
def test_real_db_resolves_alpine():
    ident = resolve("alpinelinux3.16", None, db=REAL)
    assert (ident.family, ident.distro, ident.name, ident.version) == (
        "linux", "alpinelinux", "Alpine Linux 3.16", "3.16")
    assert {"virtio-blk", "virtio-net", "virtio-scsi"} <= ident.inbox_drivers


@needs_db
@pytest.mark.parametrize("release", [r for r in RELEASES if REAL.lookup(r.short_id)],
                         ids=lambda r: r.short_id)
def test_windows_table_agrees_with_osinfo_db(release):
    entry = REAL.lookup(release.short_id)
    db_nics = REAL.drivers(entry) & NICS
    disagree = {nic for nic in db_nics - release.drivers
                if (release.short_id, nic) not in OSINFO_DB_NIC_DIVERGENCES}
    assert disagree == set(), "osinfo-db lists NICs kumo's table does not claim"
    assert not {d for d in REAL.drivers(entry) if d.startswith("virtio")}
    assert (osinfo_db.Q35 in REAL.devices(entry)) == release.q35
    assert (REAL.firmware(entry).get(("x86_64", "bios")) is False) == release.requires_uefi
    assert REAL.x86_64(entry)[1] == release.requires_64bit
    assert entry.version == OSINFO_DB_VERSION_ERRORS.get(release.short_id, release.nt)


@needs_db
@pytest.mark.parametrize("short_id, nic", list(OSINFO_DB_NIC_DIVERGENCES), ids=lambda x: str(x))
def test_documented_divergences_are_still_real(short_id, nic):
    entry = REAL.lookup(short_id)
    assert entry is not None and nic in REAL.drivers(entry)
    assert nic not in resolve(short_id, None).inbox_drivers
