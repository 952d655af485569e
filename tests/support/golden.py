"""Golden files (conventions.md #13): rendered output compared byte for byte with a reviewed file.

Regenerate with ``KUMO_REGEN_GOLDEN=1 pytest ...`` and review the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN_ROOT = Path(__file__).resolve().parent.parent / "golden"


def assert_golden(relative: str, text: str) -> None:
    path = GOLDEN_ROOT / relative
    if os.environ.get("KUMO_REGEN_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"golden file {path} missing: run with KUMO_REGEN_GOLDEN=1 and review"
    assert text == path.read_text(), f"output differs from {path} (KUMO_REGEN_GOLDEN=1 to update)"
