"""kumo doctor: each check's findings and fixes, and the command's exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kumo.cli.main import main
from kumo.doctor import Check, check_database, check_disk, check_firmware, check_swtpm


def _descriptor(d: Path, name: str, features: list[str], interface: str = "uefi",
                arch: str = "x86_64") -> None:
    (d / name).write_text(json.dumps({
        "interface-types": [interface], "features": features,
        "targets": [{"architecture": arch, "machines": ["pc-q35-*"]}]}))


def test_firmware(tmp_path):
    _descriptor(tmp_path, "50-secure.json", ["secure-boot", "enrolled-keys"])
    _descriptor(tmp_path, "60-plain.json", [])
    _descriptor(tmp_path, "70-bios.json", [], interface="bios")
    _descriptor(tmp_path, "80-arm.json", ["secure-boot"], arch="aarch64")
    assert check_firmware((str(tmp_path),)) == [
        Check("uefi", "ok", "50-secure.json, 60-plain.json"),
        Check("secure-boot", "ok", "50-secure.json")]


def test_no_firmware(tmp_path):
    _descriptor(tmp_path, "60-plain.json", [])
    assert check_firmware((str(tmp_path),))[1] == Check(
        "secure-boot", "warn", "no Secure Boot UEFI firmware",
        "apt-get install ovmf (os_secure_boot=required images are refused without it)")


def test_swtpm():
    assert check_swtpm(lambda b: None if b == "swtpm_setup" else f"/usr/bin/{b}") == Check(
        "swtpm", "warn", "swtpm_setup not installed",
        "apt-get install swtpm swtpm-tools (TPM guests, e.g. Windows 11, are refused without it)")
    assert check_swtpm(lambda b: f"/usr/bin/{b}") == Check("swtpm", "ok", "/usr/bin/swtpm")


def test_database(tmp_path):
    url = f"sqlite:///{tmp_path}/k.db"
    assert check_database(url) == Check("database", "fail", "not initialised",
                                        "run `kumo db upgrade`")
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert check_database(url).status == "ok"


@pytest.mark.parametrize("min_free, status", [(0, "ok"), (10**6, "warn")])
def test_disk(tmp_path, min_free, status):
    [check] = check_disk({"data": tmp_path / "not" / "yet"}, min_free_gib=min_free)
    assert (check.check, check.status) == ("disk:data", status)
    assert f"GiB free at {tmp_path} (data)" in check.detail


def test_command_exit_1_naming_what_failed(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KUMO_DATABASE_URL", raising=False)
    assert main(["doctor", "--uri", "test:///default", "-f", "json"]) == 1
    out, err = capsys.readouterr()
    checks = {c["check"]: c for c in json.loads(out)}
    assert checks["database"] == {"check": "database", "status": "fail",
                                  "detail": "not initialised", "fix": "run `kumo db upgrade`"}
    assert checks["libvirtd"]["status"] == "ok"
    assert err == "kumo doctor: 1 check failed: database\n"
    assert main(["db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["doctor", "--uri", "test:///default", "-f", "value", "-c", "check", "-c",
                 "status"]) == 0
    assert "database ok\n" in capsys.readouterr().out
