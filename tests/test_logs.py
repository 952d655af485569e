"""kumo.logs: one line per event, with the request id, instance and host, plain or JSON."""

from __future__ import annotations

import json
import logging

import pytest

from kumo import logs


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "kumo.log"
    yield path
    logs.setup("warning")


def test_plain_line_carries_the_context(log_file):
    logs.setup("info", "plain", log_file, "ctl-a")
    with logs.log_context(request_id="req-1", host="kvm-1"):
        logs.get("kumo.test").info("create: step %s", "define", extra={"instance": "u-1"})
        logs.get("kumo.test").debug("not at info")
    [line] = log_file.read_text().splitlines()
    assert line.split(" ", 1)[1] == "INFO kumo.test [req-1 instance=u-1 host=kvm-1] create: step define"


def test_json_line(log_file):
    logs.setup("debug", "json", log_file, "ctl-a")
    with logs.log_context(request_id="req-2", instance="u-2"):
        try:
            raise ValueError("boom")
        except ValueError:
            logs.get("kumo.test").exception("it failed", extra={"task": "power-sync"})
    [line] = log_file.read_text().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "logger", "message", "request_id", "instance",
                                   "host", "controller", "task")} == {
        "level": "ERROR", "logger": "kumo.test", "message": "it failed", "request_id": "req-2",
        "instance": "u-2", "host": None, "controller": "ctl-a", "task": "power-sync"}
    assert "ValueError: boom" in record["exception"]


def test_other_libraries_are_not_captured(log_file):
    logs.setup("debug", "plain", log_file)
    logging.getLogger("sqlalchemy.engine").warning("not ours")
    assert log_file.read_text() == ""
