"""Two operations racing for one server (SQLite and PostgreSQL): exactly one goes ahead and the
other gets the same one-line answer on both backends -- "server 'web' is busy: another operation
(reboot-hard, started ...) is in progress; retry when it is done" -- never a StaleDataError
traceback (PostgreSQL let both read "idle" and the loser died on the row's version check).
set-property is refused the same way while an operation runs."""

from __future__ import annotations

import threading
from datetime import timezone

import pytest
from sqlalchemy import select

from kumo.compute import journal, servers
from kumo.db.models import JournalEntry
from kumo.errors import StateError
from tests.compute.fakehost import entries, fake_cloud


@pytest.fixture
def web(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    yield env, host, uuid
    assert host.watch.violations == []


def busy_message(env, operation: str) -> str:
    with env.db.session_scope(readonly=True) as s:
        entry = s.scalars(select(JournalEntry).where(JournalEntry.operation == operation)).one()
        started = entry.created_at.astimezone(timezone.utc)
    return (f"server 'web' is busy: another operation ({operation}, started "
            f"{started:%Y-%m-%d %H:%M:%S} UTC) is in progress; retry when it is done")


def test_hard_reboot_and_delete_racing(web, admin, monkeypatch):
    """Both commands pass their lookups before either writes (a barrier inside journal.begin,
    which runs after the check): on PostgreSQL that is the race that crashed; SQLite serialises
    the two units of work (and the row lock PostgreSQL's), so the barrier times out and the
    second reads the first's entry. The winner waits on the host until the loser is answered."""
    env, host, uuid = web
    barrier = threading.Barrier(2)
    real_begin = journal.begin

    def begin(*args, **kwargs):
        try:
            barrier.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass
        return real_begin(*args, **kwargs)
    monkeypatch.setattr(journal, "begin", begin)
    results: dict[str, object] = {}
    refused = threading.Event()
    # the winner stays busy on the host until the loser has had its answer
    host.hooks.insert(0, lambda call: call.op == "destroy" and refused.wait(timeout=10))

    def run(name, fn):
        try:
            results[name] = fn()
        except BaseException as e:  # noqa: BLE001 - compared below
            results[name] = e
            refused.set()

    threads = [
        threading.Thread(target=run, args=("reboot-hard", lambda: servers.reboot_server(
            env, admin, "web", hard=True))),
        threading.Thread(target=run, args=("delete", lambda: servers.delete_server(
            env, admin, "web"))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = {k: v for k, v in results.items() if isinstance(v, BaseException)}
    assert len(errors) == 1, results
    [(loser, error)] = errors.items()
    winner = "delete" if loser == "reboot-hard" else "reboot-hard"
    assert type(error) is StateError
    assert str(error) == busy_message(env, winner)
    assert [e[:2] for e in entries(env, uuid)] == [("create", "done"), (winner, "done")]


def test_second_command_while_an_operation_runs(web, admin):
    env, host, uuid = web
    seen: list[BaseException] = []

    def during_destroy(call) -> None:
        if call.op == "destroy" and not seen:
            for attempt in (lambda: servers.delete_server(env, admin, "web"),
                            lambda: servers.stop_server(env, admin, "web"),
                            lambda: servers.set_property(env, admin, "web",
                                                         {"os_type": "windows"})):
                with pytest.raises(StateError) as e:
                    attempt()
                seen.append(e.value)
    host.hooks.insert(0, during_destroy)
    servers.reboot_server(env, admin, "web", hard=True)
    expected = busy_message(env, "reboot-hard")
    assert [str(e) for e in seen] == [expected] * 3
    assert servers.show_server(env, admin, uuid)["image_properties"]["os_type"] == "linux"
