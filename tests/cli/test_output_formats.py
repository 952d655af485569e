"""Every listing and show command prints the shapes python-openstackclient's cliff prints:
each -f format parses back (JSON, YAML, CSV, shell), -c selects exactly the columns asked for,
and `-f value -c id` prints bare ids one per line. One table of commands, one set of checks
(kumo.cli.output is the one formatter all of them use)."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest
import yaml

from kumo.compute.context import admin_context
from kumo.db.models import Instance
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.compute.records import add_instance


class _Env:  # what tests.compute.records.add_instance needs of a ComputeEnv
    def __init__(self, db):
        self.db, self.owner = db, "test"


@pytest.fixture
def cloud(kumo, db, test_host):
    """An image, a flavor, a host and a server on it with one event; the ids to expect."""
    code, out, _ = kumo("image", "create", "cc7", "--property", "os_type=linux", "-f", "json")
    image_id = json.loads(out)["id"]
    assert kumo("flavor", "create", "m1.tiny", "--vcpus", "1", "--ram", "512", "--disk", "1",
                "--id", "f1")[0] == 0
    uuid = add_instance(_Env(db), admin_context(), test_host, name="web")
    with db.session_scope() as s:
        s.query(Instance).filter_by(uuid=uuid).one().image_id = image_id
    assert kumo("server", "set-property", "web", "os_type=windows")[0] == 0
    assert kumo("keypair", "create", "kp")[0] == 0
    code, out, _ = kumo("server", "event", "list", "web", "-f", "json")
    request_id = json.loads(out)[0]["request_id"]
    return {"image": image_id, "server": uuid, "request": request_id, "host": test_host}


#: (id, argv, key column, expected key values, default columns) -- every listing
LISTINGS = [
    ("server-list", ("server", "list"), "id", lambda c: [c["server"]],
     ["id", "name", "status", "task_state", "power_state", "networks", "host", "flavor",
      "image"]),
    ("image-list", ("image", "list"), "id", lambda c: [c["image"]],
     ["id", "name", "status", "visibility", "disk_format", "size"]),
    ("flavor-list", ("flavor", "list"), "id", lambda c: ["f1"],
     ["id", "name", "vcpus", "ram", "disk", "ephemeral", "is_public", "extra_specs"]),
    ("host-list", ("host", "list"), "name", lambda c: [c["host"]],
     ["name", "uri", "state", "last_contact", "hypervisor_type", "virt_type", "enabled", "vcpus", "vcpus_used", "ram",
      "ram_used", "disk", "disk_used", "instances"]),
    ("server-event-list", ("server", "event", "list", "web"), "request_id",
     lambda c: [c["request"]], ["request_id", "action", "state", "step", "start_time", "error"]),
    ("lint", ("lint", "-p", "os_type=linux", "-p", "os_distro=windows"), "id",
     lambda c: ["os-type-contradiction", "os-version-unknown"],
     ["id", "severity", "message", "fix"]),
    ("explain", ("explain", "-p", "os_type=linux", "-p", "os_distro=ubuntu", "--hypervisor",
                 "qemu"), "field", None, ["field", "value", "rule", "source", "reason"]),
    ("placement-explain", ("placement", "explain", "--image", "cc7", "--flavor", "m1.tiny"),
     "host", lambda c: [c["host"]], ["host", "result", "weight", "reasons / weights"]),
    ("keypair-list", ("keypair", "list"), "name", lambda c: ["kp"],
     ["name", "fingerprint", "type"]),
]

#: (id, argv, expected id) -- every show command
SHOWS = [
    ("server-show", lambda c: ("server", "show", "web"), lambda c: c["server"]),
    ("image-show", lambda c: ("image", "show", "cc7"), lambda c: c["image"]),
    ("flavor-show", lambda c: ("flavor", "show", "m1.tiny"), lambda c: "f1"),
    ("host-show", lambda c: ("host", "show", c["host"]), None),
    ("server-event-show", lambda c: ("server", "event", "show", "web", c["request"]),
     lambda c: c["request"]),
    ("keypair-show", lambda c: ("keypair", "show", "kp"), None),
]


def _ok(kumo, *argv):
    code, out, err = kumo(*argv)
    assert code in (0, 1), err  # lint exits 1 on an error finding, and still prints
    return out


@pytest.mark.parametrize("argv, key, expected, columns",
                         [row[1:] for row in LISTINGS], ids=[row[0] for row in LISTINGS])
def test_listing_formats(kumo, cloud, argv, key, expected, columns):
    keys = expected(cloud) if expected else None

    rows = json.loads(_ok(kumo, *argv, "-f", "json", "-c", key))
    assert all(list(r) == [key] for r in rows)
    if keys is not None:
        assert [r[key] for r in rows] == keys
    keys = [r[key] for r in rows]
    assert keys

    assert yaml.safe_load(_ok(kumo, *argv, "-f", "yaml", "-c", key)) == rows
    full = json.loads(_ok(kumo, *argv, "-f", "json"))
    assert yaml.safe_load(_ok(kumo, *argv, "-f", "yaml")) == full

    table = list(csv.reader(io.StringIO(_ok(kumo, *argv, "-f", "csv"))))
    assert table[0] == columns and len(table) == len(keys) + 1
    assert [r[columns.index(key)] for r in table[1:]] == keys
    second = columns[1]
    table = list(csv.reader(io.StringIO(_ok(kumo, *argv, "-f", "csv", "-c", second, "-c",
                                            key))))
    assert table[0] == [second, key] and all(len(r) == 2 for r in table)

    assert _ok(kumo, *argv, "-f", "value", "-c", key) == "".join(f"{k}\n" for k in keys)
    pair = json.loads(_ok(kumo, *argv, "-f", "json", "-c", key, "-c", second))
    assert all(list(r) == [key, second] for r in pair)

    out = _ok(kumo, *argv)
    assert all(k in out for k in keys)
    assert all(c in out for c in columns)


@pytest.mark.parametrize("argv, expected_id", [row[1:] for row in SHOWS],
                         ids=[row[0] for row in SHOWS])
def test_show_formats(kumo, cloud, argv, expected_id):
    argv = argv(cloud)
    _ok(kumo, *argv)  # (host show asks the host, which records its first heartbeat)
    view = json.loads(_ok(kumo, *argv, "-f", "json"))
    key = ("request_id" if "event" in argv else "fingerprint" if "keypair" in argv
           else "id")  # (a key pair is known by its name; its fingerprint stands for an id)
    if expected_id is not None:
        assert view[key] == expected_id(cloud)
    assert yaml.safe_load(_ok(kumo, *argv, "-f", "yaml")) == view
    assert _ok(kumo, *argv, "-f", "value", "-c", key) == f"{view[key]}\n"
    assert json.loads(_ok(kumo, *argv, "-f", "json", "-c", key, "-c", "name"
                          if "name" in view else "action")) == {
        key: view[key], **({"name": view["name"]} if "name" in view
                           else {"action": view["action"]})}
    # a shell evaluates -f shell back into the same values
    shell = _ok(kumo, *argv, "-f", "shell", "--prefix", "k_")
    echoed = subprocess.run(["bash", "-c", f'eval "$1"; printf "%s" "$k_{key}"', "-", shell],
                            capture_output=True, text=True, check=True).stdout
    assert echoed == view[key]
    assert len(shell.splitlines()) == len(view)
    out = _ok(kumo, *argv)
    assert view[key] in out


def test_value_of_a_listing_joins_cells_with_one_space(kumo, cloud):
    out = _ok(kumo, "server", "list", "-f", "value", "-c", "id", "-c", "name", "-c", "image")
    assert out == f"{cloud['server']} web cc7\n"


def test_server_list_shows_the_image_name_and_keeps_its_id(kumo, cloud):
    [row] = json.loads(_ok(kumo, "server", "list", "-f", "json"))
    assert (row["image"], row["image_id"]) == ("cc7", cloud["image"])


def test_sort_column(kumo, cloud):
    assert kumo("flavor", "create", "m1.big", "--vcpus", "4", "--ram", "256", "--id",
                "f2")[0] == 0
    out = _ok(kumo, "flavor", "list", "-f", "value", "-c", "id", "--sort-column", "vcpus",
              "--sort-descending")
    assert out == "f2\nf1\n"
    out = _ok(kumo, "flavor", "list", "-f", "value", "-c", "id", "--sort-column", "name")
    assert out == "f2\nf1\n"  # m1.big < m1.tiny


def test_shell_escapes_what_a_shell_would_expand(kumo, cloud):
    assert kumo("flavor", "set", "m1.tiny", "--description", 'a "$(touch /tmp/x)" `b` \\')[0] == 0
    shell = _ok(kumo, "flavor", "show", "m1.tiny", "-f", "shell", "-c", "description")
    assert shell == 'description="a \\"\\$(touch /tmp/x)\\" \\`b\\` \\\\"\n'
    echoed = subprocess.run(["bash", "-c", 'eval "$1"; printf "%s" "$description"', "-", shell],
                            capture_output=True, text=True, check=True).stdout
    assert echoed == 'a "$(touch /tmp/x)" `b` \\'


@pytest.mark.parametrize("argv, message", [
    (("server", "list", "-c", "nope"),
     "kumo: error: -c 'nope' is invalid: allowed id, name, status, task_state, power_state, "
     "networks, host, flavor, image, vm_state, vcpus, ram, disk, project_id, user_id, "
     "key_name, addresses, metadata, user_data, fault, notes, config_digest, machine_type, "
     "pending_restart, image_properties, created, launched_at, image_id\n"),
    (("flavor", "list", "--sort-column", "size"),
     "kumo: error: --sort-column 'size' is invalid: allowed id, name, vcpus, ram, disk, "
     "ephemeral, is_public, extra_specs, description\n"),
    (("flavor", "show", "m1.tiny", "-c", "size"),
     "kumo: error: -c 'size' is invalid: allowed id, name, vcpus, ram, disk, ephemeral, "
     "is_public, description, extra_specs\n"),
], ids=["unknown-column", "unknown-sort-column", "unknown-show-column"])
def test_unknown_columns_are_one_line(kumo, cloud, argv, message):
    assert kumo(*argv) == (2, "", message)


def test_listing_refuses_shell_and_show_refuses_csv(kumo, cloud):
    code, out, err = kumo("server", "list", "-f", "shell")
    assert (code, out) == (2, "")
    assert "'shell' is not one of 'table', 'csv', 'json', 'value', 'yaml'" in err
    code, out, err = kumo("server", "show", "web", "-f", "csv")
    assert (code, out) == (2, "")
    assert "'csv' is not one of 'table', 'json', 'shell', 'value', 'yaml'" in err
