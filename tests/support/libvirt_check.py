"""Does libvirt accept this domain XML? (conventions.md #13)

``assert_libvirt_accepts(xml)`` checks it two ways and fails the test with libvirt's own message:

1. ``virt-xml-validate FILE domain``: libvirt's RelaxNG schema (structure, names, value syntax);
2. define on ``test:///default`` (libvirt's in-memory test driver) and undefine again: libvirt's
   XML parser and generic post-parse validation, with no host, QEMU or real libvirtd involved.

Neither starts a guest nor checks QEMU-specific semantics (firmware descriptors, device support);
the e2e tests on qemu:///system do that.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import libvirt
import pytest

TEST_URI = "test:///default"


@functools.cache
def _test_connection() -> libvirt.virConnect:
    return libvirt.open(TEST_URI)


def schema_errors(xml: str) -> str | None:
    """virt-xml-validate's complaint about ``xml`` (None when it validates)."""
    tool = shutil.which("virt-xml-validate")
    if tool is None:
        pytest.fail("virt-xml-validate is not installed (package libvirt-clients)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "domain.xml"
        path.write_text(xml)
        run = subprocess.run([tool, str(path), "domain"], capture_output=True, text=True,
                             timeout=60)
    if run.returncode == 0:
        return None
    return (run.stderr + run.stdout).strip()


def define_errors(xml: str) -> str | None:
    """libvirt's message when the test driver refuses to define ``xml`` (None when it accepts)."""
    conn = _test_connection()
    try:
        dom = conn.defineXML(xml)
    except libvirt.libvirtError as e:
        return e.get_error_message()
    dom.undefine()
    return None


def assert_libvirt_accepts(xml: str) -> None:
    """Fail the calling test unless libvirt's schema and its test driver both accept ``xml``."""
    problem = schema_errors(xml)
    if problem:
        pytest.fail(f"libvirt's RelaxNG schema rejects the domain XML:\n{problem}\n---\n{xml}")
    problem = define_errors(xml)
    if problem:
        pytest.fail(f"libvirt ({TEST_URI}) refuses to define the domain XML: {problem}\n---\n{xml}")
