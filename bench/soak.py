"""Crash soak on the real libvirtd: N SIGKILLs of kumo processes over 20 tiny servers (one at
every kill site first, then seeded-random ones), then recovery and the census
(tests/support/soak.py). Prints the counts, the kills per site and the time it took.

    PYTHONPATH=src:. python bench/soak.py --kills 200 --seed 8
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kumo.hosts.libvirt_host import LibvirtHost  # noqa: E402
from tests.support.soak import URI, soak  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--servers", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kumo-soak-") as tmp, LibvirtHost(URI) as conn:
        census = soak(Path(tmp), conn, kills=args.kills, seed=args.seed, servers=args.servers,
                      log=Path(tmp) / "soak.log")
        print(census.lines())
        clean = (not census.missed and not census.unsettled
                 and census.usage_counted == census.usage_recorded
                 and not census.orphans and not census.stray)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
