"""No traceback reaches a user (issue 8, item 16): every way the environment or the input can be
wrong is one line on stderr, exit 1 (the environment: database, files) or 2 (the request), on
SQLite and, where the database matters, PostgreSQL. A case that is not one of these lines
prints "kumo: internal error" (exit 70), which no case here may produce."""

from __future__ import annotations

import json
import os

import pytest

from kumo.cli.main import main
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json

MAX_INT = 2**31 - 1
HUGE = str(10**20)  # beyond 64 bits


@pytest.fixture
def fresh(tmp_path, monkeypatch, capsys):
    """kumo(*argv) against a data directory where nothing was ever set up."""
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path / "data"))
    for name in ("KUMO_DATABASE_URL", "KUMO_IMAGE_DIR", "KUMO_SCHEDULER_CONFIG", "KUMO_ROLES",
                 "KUMO_USER_ID", "KUMO_PROJECT_ID", "KUMO_DEBUG"):
        monkeypatch.delenv(name, raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.mark.parametrize("argv", [
    ("image", "list"), ("flavor", "list"), ("server", "list"), ("host", "list"),
    ("image", "orphans"), ("server", "show", "web"),
], ids=lambda a: "-".join(a))
def test_commands_before_db_upgrade_on_sqlite(fresh, tmp_path, argv):
    db = tmp_path / "data" / "kumo.db"
    assert fresh(*argv) == (1, "", f"kumo: error: database sqlite:///{db} is not initialised: "
                                   "run `kumo db upgrade`\n")
    assert not db.exists()  # asking creates nothing


def test_commands_before_db_upgrade_on_an_empty_database(fresh, monkeypatch, empty_db_url):
    """An empty database (SQLite file or PostgreSQL database that exists but was never
    migrated); then the same database by the common postgres:// spelling."""
    from kumo.db.failures import shown

    monkeypatch.setenv("KUMO_DATABASE_URL", empty_db_url)
    for argv in (("image", "list"), ("server", "list"),
                 ("flavor", "create", "m1", "--vcpus", "1", "--ram", "512")):
        assert fresh(*argv) == (1, "", f"kumo: error: database {shown(empty_db_url)} is not "
                                       "initialised: run `kumo db upgrade`\n")
    if empty_db_url.startswith("postgresql+psycopg://"):
        monkeypatch.setenv("KUMO_DATABASE_URL", empty_db_url.replace("postgresql+psycopg://",
                                                                     "postgres://"))
    assert fresh("db", "upgrade")[0] == 0
    assert fresh("image", "list", "-f", "json") == (0, "[]\n", "")


@pytest.mark.parametrize("url, code, message", [
    ("foo", 2, "database URL 'foo' is invalid: allowed sqlite:///PATH or "
               "postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"),
    ("mysql://u:secret@127.0.0.1/kumo", 2,
     "database URL 'mysql://u:***@127.0.0.1/kumo' is invalid: driver 'mysql' is not supported; "
     "allowed sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"),
    ("postgresql://u:secret@127.0.0.1:port/kumo", 2,
     "database URL 'postgresql://u:***@127.0.0.1:port/kumo' is invalid: allowed "
     "sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"),
    ("postgresql://u:secret@127.0.0.1:99999/kumo", 1,
     "database postgresql+psycopg://u:***@127.0.0.1:99999/kumo cannot be used: connection is "
     "bad: invalid port number: \"99999\""),
    ("postgres://u:secret@127.0.0.1:1/kumo", 1,
     "database postgresql+psycopg://u:***@127.0.0.1:1/kumo cannot be used: connection failed: "
     "connection to server at \"127.0.0.1\", port 1 failed: Connection refused"),
    ("sqlite://", 2, "database URL 'sqlite://' is invalid: it names no file; allowed "
                     "sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME"),
], ids=["not-a-url", "unsupported-driver-password-hidden", "bad-port", "port-out-of-range",
        "unreachable",
        "sqlite-no-file"])
def test_bad_database_urls(fresh, monkeypatch, url, code, message):
    monkeypatch.setenv("KUMO_DATABASE_URL", url)
    assert fresh("image", "list") == (code, "", f"kumo: error: {message}\n")


def test_corrupt_sqlite_database(fresh, tmp_path):
    db = tmp_path / "data" / "kumo.db"
    db.parent.mkdir()
    db.write_bytes(b"this is not a database" * 100)
    for argv in (("image", "list"), ("server", "list"), ("db", "upgrade")):
        assert fresh(*argv) == (1, "", f"kumo: error: database sqlite:///{db} cannot be used: "
                                       "file is not a database\n")


def test_unwritable_data_directory(fresh, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path / "file" / "kumo"))
    assert fresh("db", "upgrade") == (1, "", f"kumo: error: {tmp_path}/file/kumo: Not a "
                                             "directory\n")
    assert fresh("render", "-p", "os_type=linux", "-o", str(tmp_path / "file" / "x.xml")) == (
        1, "", f"kumo: error: {tmp_path}/file/x.xml: Not a directory\n")


def _huge(kumo):
    return [
        (("flavor", "create", "m1", "--vcpus", "1", "--ram", HUGE),
         f"flavor ram_mib={HUGE} is invalid: allowed an integer from 16 to {MAX_INT}"),
        (("flavor", "create", "m1", "--vcpus", HUGE, "--ram", "512"),
         f"flavor vcpus={HUGE} is invalid: allowed an integer from 1 to {MAX_INT}"),
        (("flavor", "create", "m1", "--vcpus", "1", "--ram", "512", "--disk", str(MAX_INT + 1)),
         f"flavor disk_gib={MAX_INT + 1} is invalid: allowed an integer from 0 to {MAX_INT}"),
        (("image", "create", "i", "--min-ram", HUGE),
         f"min_ram={HUGE} is invalid: allowed an integer from 0 to {MAX_INT}"),
        (("image", "create", "i", "--property", f"min_disk={HUGE}"),
         f"min_disk={HUGE} is invalid: allowed an integer from 0 to {MAX_INT}"),
        (("image", "list", "--limit", HUGE),
         f"limit={HUGE} is invalid: allowed an integer from 0 to {MAX_INT}"),
        (("server", "show", HUGE), f"server '{HUGE}' not found"),
        (("flavor", "create", "m1", "--vcpus", "1", "--ram", "512", "--id", HUGE * 20),
         f"flavor id '{(HUGE * 20)[:55]}...' is invalid ({len(HUGE) * 20} characters): "
         "allowed 1 to 255 "
         "characters, no surrounding spaces, no control characters"),
    ]


@pytest.mark.parametrize("case", range(8), ids=["ram", "vcpus", "disk", "min-ram",
                                                "min-disk-property", "limit", "server-id",
                                                "flavor-id"])
def test_huge_numbers_are_refused_before_the_database(kumo, case):
    argv, message = _huge(kumo)[case]
    assert kumo(*argv) == (2, "", f"kumo: error: {message}\n")
    assert as_json(kumo("flavor", "list", "-f", "json")[1]) == []
    assert as_json(kumo("image", "list", "-f", "json")[1]) == []


def test_nul_bytes_are_refused_before_the_database(kumo, test_host):
    """PostgreSQL cannot store or even compare a NUL: every string is checked first."""
    for argv, message in [
        (("image", "create", "a\x00b"), "image name 'a\\x00b' is invalid (control character "
         "U+0000 at position 1): allowed 1 to 255 characters, no surrounding spaces, no control "
         "characters"),
        (("image", "show", "a\x00b"), "image 'a\\x00b' not found"),
        (("server", "delete", "\x00"), "server '\\x00' not found"),
        (("host", "show", "kvm\x00"), "host 'kvm\\x00' not found"),
        (("flavor", "create", "m1", "--vcpus", "1", "--ram", "512", "--property",
          "hw:disk_bus=vir\x00tio"), "extra spec hw:disk_bus 'vir\\x00tio' is invalid (U+0000 "
         "at position 3): allowed any text without NUL characters, in UTF-8"),
    ]:
        assert kumo(*argv) == (2, "", f"kumo: error: {message}\n")


def _files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "bigint.json").write_text('{"min_ram": ' + "9" * 5000 + "}")
    (tmp_path / "dir").mkdir()
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe[scheduler]")
    t = str(tmp_path)
    return [
        (("render", "--image", "/dev/zero"),
         "--image '/dev/zero' is a character device: allowed a regular file"),
        (("render", "--image", f"{t}/fifo"), f"--image '{t}/fifo' is a FIFO: allowed a regular "
                                             "file"),
        (("render", "--image", f"{t}/latin1.json"),
         f"--image '{t}/latin1.json' is not UTF-8 text (byte 0xe9 at offset 13): allowed UTF-8"),
        (("render", "--image", f"{t}/deep.json"),
         f"--image '{t}/deep.json' is nested too deeply: allowed JSON nested at most a few "
         "hundred levels"),
        (("lint", "--image", f"{t}/bigint.json"),
         f"--image '{t}/bigint.json' is not valid JSON: Exceeds the limit (4300 digits) for "
         "integer string conversion: value has 5000 digits; use sys.set_int_max_str_digits() "
         "to increase the limit"),
        (("render", "-p", "os_type=linux", "--host-caps", "/dev/zero"),
         "host capabilities file '/dev/zero' is a character device: allowed a regular file"),
        (("render", "-p", "os_type=linux", "--host-caps", f"{t}/fifo"),
         f"host capabilities file '{t}/fifo' is a FIFO: allowed a regular file"),
        (("server", "create", "web", "--image", "i", "--flavor", "f", "--key-file", f"{t}/dir"),
         f"--key-file '{t}/dir' is a directory: allowed a regular file"),
        (("server", "create", "web", "--image", "i", "--flavor", "f", "--key-file",
          "/dev/zero"), "--key-file '/dev/zero' is a character device: allowed a regular file"),
        (("image", "create", "i", "--disk-format", "raw", "--file", f"{t}/fifo"),
         f"--file '{t}/fifo' is a FIFO: allowed a regular file"),
        (("image", "create", "i", "--disk-format", "raw", "--file", "/dev/zero"),
         "--file '/dev/zero' is a character device: allowed a regular file"),
        (("placement", "explain", "--image", "i", "--flavor", "f", "--config", f"{t}/dir"),
         f"scheduler configuration file '{t}/dir' is a directory: allowed a regular file"),
        (("placement", "explain", "--image", "i", "--flavor", "f", "--config",
          f"{t}/binary.toml"), f"scheduler configuration file '{t}/binary.toml' is not UTF-8 "
                               "text (byte 0xff at offset 0): allowed UTF-8"),
        # a regular file whose read fails (EIO): what a failing disk gives, and root cannot be
        # denied a chmod-000 file, so this is how the suite (run as root) meets an unreadable one
        (("render", "--image", UNREADABLE),
         f"--image '{UNREADABLE}' cannot be read: Input/output error"),
        (("render", "-p", "os_type=linux", "--host-caps", UNREADABLE),
         f"host capabilities file '{UNREADABLE}' cannot be read: Input/output error"),
        (("server", "create", "web", "--image", "i", "--flavor", "f", "--key-file", UNREADABLE),
         f"--key-file '{UNREADABLE}' cannot be read: Input/output error"),
        (("image", "create", "i", "--disk-format", "raw", "--file", UNREADABLE),
         f"image file '{UNREADABLE}' cannot be read: Input/output error (nothing was stored)"),
        (("placement", "explain", "--image", "i", "--flavor", "f", "--config", UNREADABLE),
         f"scheduler configuration file '{UNREADABLE}' cannot be read: Input/output error"),
    ]


UNREADABLE = "/proc/self/mem"  # S_ISREG, and reading offset 0 fails with EIO


@pytest.mark.parametrize("case", range(18), ids=[
    "image-dev-zero", "image-fifo", "image-not-utf8", "image-deeply-nested", "image-huge-int",
    "host-caps-dev-zero", "host-caps-fifo", "key-file-directory", "key-file-dev-zero",
    "image-data-fifo", "image-data-device", "scheduler-config-directory",
    "scheduler-config-not-utf8", "image-unreadable", "host-caps-unreadable",
    "key-file-unreadable", "image-data-unreadable", "scheduler-config-unreadable"])
def test_special_and_malformed_files(kumo, tmp_path, case):
    argv, message = _files(tmp_path)[case]
    assert kumo(*argv) == (2, "", f"kumo: error: {message}\n")


def test_upload_of_an_unreadable_file_keeps_the_image_queued_with_nothing_stored(kumo,
                                                                                 tmp_path):
    assert kumo("image", "create", "q", "--disk-format", "raw")[0] == 0
    assert kumo("image", "upload", "q", "--file", UNREADABLE) == (
        2, "", f"kumo: error: image file '{UNREADABLE}' cannot be read: Input/output error "
               "(nothing was stored)\n")
    assert kumo("image", "show", "q", "-f", "value", "-c", "status") == (0, "queued\n", "")
    images = tmp_path / "data" / "images"
    assert (sorted(p.name for p in images.iterdir()) if images.exists() else []) == []


def test_scheduler_config_from_the_environment_that_is_not_a_file(kumo, monkeypatch, tmp_path):
    monkeypatch.setenv("KUMO_SCHEDULER_CONFIG", str(tmp_path))
    assert kumo("placement", "explain", "--image", "i", "--flavor", "f") == (
        2, "", f"kumo: error: scheduler configuration file '{tmp_path}' is a directory: allowed "
               "a regular file\n")


def test_lint_reports_impossible_ram_like_impossible_vcpus(kumo):
    code, out, _ = kumo("lint", "-p", "os_type=linux", "--flavor", "2,2000000,10", "--format",
                        "json")
    assert code == 1
    [finding] = [f for f in json.loads(out) if f["severity"] == "error"]
    assert finding == {
        "id": "too-much-ram", "severity": "error",
        "message": "the flavor has 2000000 MiB of RAM; a kvm guest can have at most 1048576 MiB "
                   "(QEMU's 40-bit guest physical address space for CPU models other than "
                   "host-passthrough)",
        "fix": "use a smaller flavor"}


def test_an_unexpected_exception_is_one_line_naming_a_bug(fresh, monkeypatch):
    from kumo.compute import flavors

    def broken(*_a, **_k):
        raise KeyError("boom")
    monkeypatch.setattr(flavors, "list_flavors", broken)
    assert fresh("db", "upgrade")[0] == 0
    assert fresh("flavor", "list") == (70, "", "kumo: internal error: KeyError: 'boom' (a bug "
                                               "in kumo; KUMO_DEBUG=1 shows the traceback)\n")
    monkeypatch.setenv("KUMO_DEBUG", "1")
    with pytest.raises(KeyError):
        fresh("flavor", "list")


@pytest.mark.parametrize("argv, message", [
    (("image", "list", "--sort", "\udcff"),
     "argument 4 is not valid UTF-8 text (byte 0xff at position 0): allowed UTF-8"),
    (("image", "create", "caf\udce9"),
     "argument 3 is not valid UTF-8 text (byte 0xe9 at position 3): allowed UTF-8"),
], ids=["sort-key", "name"])
def test_arguments_that_are_not_utf8(kumo, argv, message):
    """Bytes that are not UTF-8 on the command line (Python hands them over as surrogates)."""
    assert kumo(*argv) == (2, "", f"kumo: error: {message}\n")


def test_filters_that_no_database_can_compare_are_refused(kumo):
    assert kumo("image", "list", "--property", "os_type=a\x00b") == (
        2, "", "kumo: error: filter os_type 'a\\x00b' is invalid (U+0000 at position 1): "
               "allowed any text without NUL characters, in UTF-8\n")
