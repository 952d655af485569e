"""The GuestPolicy filter runs the guest policy without recording decisions
(``plan_guest(explain=False)``): the same rules, so the same findings and the same spec, only
without the "why" of each field. Checked over the equivalence test's images and hosts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import plan_guest
from kumo.scheduler import RequestSpec
from kumo.scheduler.filters.policy import policy_request

from tests.scheduler.helpers import host
from tests.scheduler.test_equivalence import IMAGES, TEMPLATES

FLAVORS = [Flavor(1, 512, 10), Flavor(4, 8192, 80, ephemeral_gib=20), Flavor(64, 65536, 64)]


def _caps(t):
    t = dict(t)
    return host("h", t.pop("hv"), t.pop("version"), **t).capabilities


CAPS = [_caps(t) for t in TEMPLATES]


@pytest.mark.parametrize("props", IMAGES, ids=[",".join(sorted(p)) or "none" for p in IMAGES])
def test_findings_and_spec_do_not_depend_on_recording_decisions(props):
    seen_errors = False
    for flavor in FLAVORS:
        request = RequestSpec(flavor, ImageProperties.parse(props))
        for caps in CAPS:
            req = policy_request(request, caps)
            full, quick = plan_guest(req), plan_guest(req, explain=False)
            assert quick.findings == full.findings
            assert quick.spec == (None if full.spec is None else replace(full.spec, decisions=()))
            if full.spec is not None:
                assert full.spec.decisions  # the explaining run does record them
            seen_errors |= bool(full.errors)
    if props.get("hw_tpm_version") or props.get("os_secure_boot"):
        assert seen_errors  # some host of the table refuses it: the comparison covers errors
