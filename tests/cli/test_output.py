"""Text from records is inert in an operator's terminal (issue 8, item 14): names cannot carry
control or format characters at all (one rule, kumo.catalog.names), and values that may (property
values) are shown escaped, never as escape sequences or rich markup (kumo.cli.output)."""

from __future__ import annotations

import pytest

from kumo.cli.output import _cell as cell
from kumo.cli.output import error_line, escape
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json

ALLOWED = "allowed 1 to 255 characters, no surrounding spaces, no control characters"


@pytest.mark.parametrize("argv, message", [
    (("image", "create", "ok\x1b[2K\rroot-image"),
     "image name 'ok\\x1b[2K\\rroot-image' is invalid (control character U+001B at position 2)"),
    (("image", "create", "x", "--property", "a\x1bb=1"),
     "property name 'a\\x1bb' is invalid (control character U+001B at position 1)"),
    (("image", "create", "gpj.exe\u202e"),
     "image name 'gpj.exe\\u202e' is invalid (format character U+202E at position 7)"),
    (("flavor", "create", "m1\x07", "--vcpus", "1", "--ram", "512"),
     "flavor name 'm1\\x07' is invalid (control character U+0007 at position 2)"),
    (("flavor", "create", "m1", "--vcpus", "1", "--ram", "512", "--id", "f\n1"),
     "flavor id 'f\\n1' is invalid (control character U+000A at position 1)"),
    (("flavor", "create", "m1", "--vcpus", "1", "--ram", "512", "--property", "k\x00=v"),
     "extra spec name 'k\\x00' is invalid (control character U+0000 at position 1)"),
    (("host", "add", "kvm\x1b]0;pwned\x07", "--uri", "test:///default"),
     "host name 'kvm\\x1b]0;pwned\\x07' is invalid (control character U+001B at position 3)"),
    (("server", "create", "web\x9b31m", "--image", "i", "--flavor", "f"),
     "server name 'web\\x9b31m' is invalid (control character U+009B at position 3)"),
], ids=["image-name", "property-key", "bidi-override", "flavor-name", "flavor-id",
        "extra-spec-key", "host-name", "server-name-c1"])
def test_names_with_control_characters_are_refused(kumo, argv, message):
    assert kumo(*argv) == (2, "", f"kumo: error: {message}: {ALLOWED}\n")
    assert as_json(kumo("image", "list", "-f", "json")[1]) == []
    assert as_json(kumo("flavor", "list", "-f", "json")[1]) == []


def test_property_values_are_shown_escaped_never_interpreted(kumo):
    value = "\x1b[8mhidden\x1b[0m [red]fake[/red]\nsecond line\u202e"
    code, out, err = kumo("image", "create", "img", "--property", f"note={value}", "-f", "json")
    assert (code, err) == (0, "")
    assert as_json(out)["properties"]["note"] == value  # stored verbatim, JSON escapes it
    for argv in (("image", "show", "img"), ("image", "list", "--long")):
        code, out, _ = kumo(*argv)
        assert code == 0
        assert "\x1b" not in out and "\u202e" not in out
        assert "\\x1b[8mhidden\\x1b[0m [red]fake[/red]\\nsecond line\\u202e" in out


def test_a_nul_in_a_property_value_is_refused(kumo):
    assert kumo("image", "create", "img", "--property", "note=a\x00b") == (
        2, "", "kumo: error: property note 'a\\x00b' is invalid (U+0000 at position 1): allowed "
               "any text without NUL characters, in UTF-8\n")


@pytest.mark.parametrize("value, shown", [
    ("plain", "plain"), ("tab\there", "tab\\there"), ("\x1b[31m", "\\x1b[31m"),
    ("\x7f\x85", "\\x7f\\x85"), ("a\u200bb", "a\\u200bb"), ("été ✓", "été ✓"),
    ({"k\x1b": "v\n"}, "k\\x1b=v\\n"), (["a\nb", "c"], "a\\nb, c"), (None, ""),
], ids=["plain", "tab", "csi", "del-nel", "zero-width", "unicode-kept", "mapping", "list",
        "none"])
def test_cells_escape_every_control_and_format_character(value, shown):
    assert cell(value) == shown


def test_an_error_is_one_inert_line():
    assert error_line("bad\nvalue \x1b[31m") == "bad value \\x1b[31m"
    assert escape("ok") == "ok"
