"""Config drive build: in memory with pycdlib (what create does now) against the xorriso
subprocess over a temporary directory (what it did before), for a Windows guest's drive.

    .venv/bin/python bench/config_drive.py [N]

Prints per-build wall and CPU time (ms, median of N) and the ISO size for both ways.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kumo.compute import config_drive
from kumo.compute.config_drive import InstanceMetadata

MD = InstanceMetadata(uuid="0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01", name="Web Server 1",
                      os_type="windows", project_id="p1", admin_pass="s3cret-pass-123456")


def in_memory() -> int:
    return len(config_drive.iso_bytes(MD))


def xorriso() -> int:
    """The former build: files in a temporary directory, xorriso -as mkisofs -J -R."""
    with tempfile.TemporaryDirectory(prefix="kumo-cd-") as tmp:
        latest = Path(tmp, "root", "openstack", "latest")
        latest.mkdir(parents=True)
        (latest / "meta_data.json").write_text(json.dumps(config_drive.meta_data(MD), indent=2))
        (latest / "network_data.json").write_text(json.dumps(config_drive.network_data()))
        out = Path(tmp, "cd.iso")
        subprocess.run(["xorriso", "-as", "mkisofs", "-o", str(out), "-V", "config-2", "-J",
                        "-R", "-quiet", str(Path(tmp, "root"))], check=True, capture_output=True)
        return out.stat().st_size


def measure(fn, n: int) -> tuple[float, float, int]:
    fn()  # imports, page cache
    walls, size = [], 0
    cpu0 = time.process_time()
    for _ in range(n):
        t = time.perf_counter()
        size = fn()
        walls.append(time.perf_counter() - t)
    cpu = (time.process_time() - cpu0) / n  # this process only: xorriso's own CPU not counted
    return statistics.median(walls) * 1000, cpu * 1000, size


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    for name, fn in (("pycdlib in memory", in_memory), ("xorriso + temp dir", xorriso)):
        wall, cpu, size = measure(fn, n)
        print(f"{name:20s} median {wall:7.2f} ms wall, {cpu:6.2f} ms CPU in-process, "
              f"{size} bytes ISO ({n} builds)")


if __name__ == "__main__":
    main()
