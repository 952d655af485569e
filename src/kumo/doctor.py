"""``kumo doctor``: can this machine run kumo? Each check says what it found and, when something
is wrong, what to do about it.

Checks, in the order a fresh install meets them: libvirtd answers at the URI; QEMU is there and
KVM usable (else guests need --virt-type qemu); UEFI firmware (OVMF) and a Secure Boot build of
it, found as libvirt finds them, through the QEMU firmware descriptors
(/usr/share/qemu/firmware/*.json, docs/interop/firmware.json in QEMU); swtpm for virtual TPMs;
the database at the latest schema; kumo's storage pool on the host; free disk space where image
data and the database live. A check is ``ok``, ``warn`` (guests of some kinds will be refused)
or ``fail`` (kumo cannot work until it is fixed).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

FIRMWARE_DIRS = ("/usr/share/qemu/firmware", "/etc/qemu/firmware")
MIN_FREE_GIB = 5  # a Windows image alone is several GiB


@dataclass(frozen=True)
class Check:
    check: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""


def firmware(dirs: tuple[str, ...] = FIRMWARE_DIRS) -> tuple[list[str], list[str]]:
    """(UEFI x86_64 firmware descriptors, those with Secure Boot), by file name."""
    uefi, secure = [], []
    for d in dirs:
        for path in sorted(Path(d).glob("*.json")):
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if "uefi" not in doc.get("interface-types", []):
                continue
            if not any(t.get("architecture") == "x86_64" for t in doc.get("targets", [])):
                continue
            uefi.append(path.name)
            if "secure-boot" in doc.get("features", []):
                secure.append(path.name)
    return uefi, secure


def check_libvirt(conn: Any, uri: str) -> Check:
    from kumo.errors import HostError
    try:
        node = conn.node_info()
    except HostError as e:
        return Check("libvirtd", "fail", str(e), "start libvirtd (scripts/setup.sh starts it "
                     "here), or give the right --uri")
    return Check("libvirtd", "ok", f"{uri} answers: {node.cpus} CPUs, {node.memory_mib} MiB")


def check_kvm(conn: Any, uri: str) -> list[Check]:
    from kumo.compute.host_admin import virt_type_problem
    from kumo.errors import HostError
    checks = []
    emulator = shutil.which("qemu-system-x86_64")
    checks.append(Check("qemu", "ok", emulator) if emulator else Check(
        "qemu", "fail", "qemu-system-x86_64 is not installed", "apt-get install qemu-system-x86"))
    try:
        problem = virt_type_problem(conn, uri, "kvm")
    except HostError as e:
        problem = str(e)
    checks.append(Check("kvm", "ok", "KVM is usable") if problem is None else Check(
        "kvm", "warn", f"KVM is not usable: {problem}",
        "add hosts with --virt-type qemu (TCG: slower), or enable hardware virtualisation"))
    return checks


def check_firmware(dirs: tuple[str, ...] = FIRMWARE_DIRS) -> list[Check]:
    uefi, secure = firmware(dirs)
    return [
        Check("uefi", "ok", ", ".join(uefi)) if uefi else Check(
            "uefi", "warn", "no UEFI firmware descriptor for x86_64 in " + ", ".join(dirs),
            "apt-get install ovmf (UEFI guests, e.g. Windows 11, are refused without it)"),
        Check("secure-boot", "ok", ", ".join(secure)) if secure else Check(
            "secure-boot", "warn", "no Secure Boot UEFI firmware",
            "apt-get install ovmf (os_secure_boot=required images are refused without it)"),
    ]


def check_swtpm(which: Callable[[str], str | None] = shutil.which) -> Check:
    missing = [b for b in ("swtpm", "swtpm_setup") if which(b) is None]
    if missing:
        return Check("swtpm", "warn", f"{', '.join(missing)} not installed",
                     "apt-get install swtpm swtpm-tools (TPM guests, e.g. Windows 11, are "
                     "refused without it)")
    return Check("swtpm", "ok", which("swtpm") or "")


def check_database(url: str) -> Check:
    from sqlalchemy.exc import OperationalError

    from kumo.db import migrate
    try:
        revision = migrate.current_revision(url)
    except OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        return Check("database", "fail", f"cannot be used: {reason}",
                     "check KUMO_DATABASE_URL and that the database server runs")
    head = migrate.head_revision()
    if revision is None:
        return Check("database", "fail", "not initialised", "run `kumo db upgrade`")
    if revision != head:
        return Check("database", "fail", f"at {revision}, behind {head}", "run `kumo db upgrade`")
    return Check("database", "ok", f"at {revision} (latest)")


def check_pool(conn: Any, name: str, path: str) -> Check:
    from kumo.errors import KumoError
    try:
        info = conn.pool_info(name)
    except KumoError as e:
        return Check("pool", "warn", f"storage pool {name!r}: {e}",
                     f"it is created at {path} when the first host is added (kumo host add)")
    return Check("pool", "ok", f"{name!r}: {info.capacity_bytes // (1 << 30)} GiB")


def check_disk(paths: dict[str, Path], min_free_gib: int = MIN_FREE_GIB) -> list[Check]:
    checks = []
    for what, path in paths.items():
        existing = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free / (1 << 30)
        detail = f"{free:.1f} GiB free at {existing} ({what})"
        checks.append(Check(f"disk:{what}", "ok", detail) if free >= min_free_gib else Check(
            f"disk:{what}", "fail" if free < 1 else "warn", detail,
            f"free space there (images and disks need at least {min_free_gib} GiB)"))
    return checks


def run_checks(uri: str) -> list[Check]:
    """Every check against the libvirt host at ``uri`` and the configured database."""
    from kumo.compute.env import ComputeEnv
    from kumo.config import Settings

    settings = Settings.from_env()
    env = ComputeEnv.from_env()
    try:
        conn = env.host(uri)
        checks = [check_libvirt(conn, uri)]
        reachable = checks[0].status == "ok"
        checks += check_kvm(conn, uri) if reachable else []
        checks += check_firmware()
        checks.append(check_swtpm())
        checks.append(check_database(settings.database_url))
        if reachable:
            checks.append(check_pool(conn, env.pool_name, env.pool_path))
        disks = {"image store": settings.image_dir, "data": settings.data_dir}
        if reachable:
            disks["pool"] = Path(env.pool_path)
        checks += check_disk(disks)
    finally:
        env.close()
    return checks
