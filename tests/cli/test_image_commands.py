"""kumo image create/list/show/set/unset/delete: table and JSON output, filters on custom
properties, exact one-line errors with exit code 2."""

from __future__ import annotations

import subprocess

import pytest

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"], check=True)
    return path


def test_create_show_set_unset_delete(kumo, disk):
    code, out, err = kumo("image", "create", "cc7", "--file", str(disk), "--disk-format",
                          "qcow2", "--property", "os_type=linux", "--property",
                          "release_date=2020-01-10", "--visibility", "public", "-f", "json")
    assert (code, err) == (0, "")
    image = as_json(out)
    assert (image["status"], image["disk_format"], image["visibility"]) == ("active", "qcow2",
                                                                            "public")
    assert image["properties"] == {"os_type": "linux", "release_date": "2020-01-10"}

    code, out, _ = kumo("image", "set", "cc7", "--property", "recommended=true", "-f", "json")
    assert as_json(out)["properties"]["recommended"] == "true"
    code, out, _ = kumo("image", "unset", "cc7", "--property", "release_date", "-f", "json")
    assert as_json(out)["properties"] == {"os_type": "linux", "recommended": "true"}
    code, out, _ = kumo("image", "show", "cc7")
    assert code == 0 and "recommended=true" in out and image["id"] in out
    assert kumo("image", "delete", "cc7")[:2] == (0, f"deleted image {image['id']}\n")
    assert as_json(kumo("image", "list", "-f", "json")[1]) == []


def test_list_filters_and_sorts_on_custom_properties(kumo):
    for name, date, recommended in (("win7", "2019-03-01", "false"),
                                    ("win2019", "2021-06-15", "true"),
                                    ("win10", "2020-11-30", "true")):
        assert kumo("image", "create", name, "--property", f"release_date={date}",
                    "--property", f"recommended={recommended}")[0] == 0
    code, out, _ = kumo("image", "list", "--property", "recommended=true", "--sort",
                        "release_date:desc", "-f", "json")
    assert [i["name"] for i in as_json(out)] == ["win2019", "win10"]
    code, out, _ = kumo("image", "list", "--long", "--sort", "name:asc")
    assert code == 0
    assert out.index("win10") < out.index("win2019") < out.index("win7")
    assert "release_date" in out  # custom properties are columns with --long


@pytest.mark.parametrize("argv, message", [
    (("image", "create", "x", "--property", "os_type=dos"),
     "kumo: error: os_type='dos' is invalid: allowed one of linux, windows\n"),
    (("image", "create", "x", "--property", "novalue"),
     "kumo: error: --property 'novalue' is invalid: allowed KEY=VALUE\n"),
    (("image", "show", "nope"), "kumo: error: image 'nope' not found\n"),
    (("image", "list", "--sort", "name:sideways"),
     "kumo: error: sort direction 'sideways' is invalid: allowed asc or desc\n"),
], ids=["invalid-property", "malformed-pair", "unknown-image", "bad-sort"])
def test_errors_are_one_line_exit_2(kumo, argv, message):
    assert kumo(*argv) == (2, "", message)


def test_raw_file_called_qcow2_is_refused(kumo, tmp_path):
    raw = tmp_path / "disk.img"
    raw.write_bytes(b"\0" * 4096)
    code, out, err = kumo("image", "create", "x", "--file", str(raw), "--disk-format", "qcow2")
    assert (code, out) == (2, "")
    assert err == (f"kumo: error: image file '{raw}' is not qcow2: qemu-img info reads it as "
                   "raw; give disk_format=raw or the right file (nothing was stored)\n")
    assert as_json(kumo("image", "list", "-f", "json")[1]) == []
