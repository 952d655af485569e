"""kumo completion bash|zsh|fish and the completion of resource names."""

from __future__ import annotations

import pytest

from kumo.compute.context import admin_context
from kumo.db.models import KeyPair
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.test_server_commands import _Env
from tests.compute.records import add_instance


@pytest.mark.parametrize("shell, line", [
    ("bash", "complete -o nosort -F _kumo_completion kumo"),
    ("zsh", "#compdef kumo"),
    ("fish", "complete --no-files --command kumo --arguments"),
])
def test_scripts(kumo, shell, line):
    code, out, err = kumo("completion", shell)
    assert (code, err) == (0, "")
    assert line in out and "_KUMO_COMPLETE" in out


@pytest.mark.parametrize("words, offered", [
    ("kumo server show w", ["web-a", "web-b"]),
    ("kumo server show d", ["db"]),
    ("kumo server delete db ", ["db", "web-a", "web-b"]),
    ("kumo server create x --image ", ["cc7"]),
    ("kumo server create x --flavor m", ["m1.tiny"]),
    ("kumo image show ", ["cc7"]),
    ("kumo flavor delete ", ["m1.tiny"]),
    ("kumo host show k", ["kvm-1"]),
    ("kumo host delete ", ["kvm-1"]),
    ("kumo placement explain --host ", ["kvm-1"]),
    ("kumo keypair show ", ["laptop"]),
    ("kumo server create x --key-name l", ["laptop"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_names(kumo, db, test_host, monkeypatch, capsys, words, offered):
    for name in ("web-a", "web-b", "db"):
        add_instance(_Env(db), admin_context(), test_host, name=name)
    assert kumo("image", "create", "cc7")[0] == 0
    assert kumo("flavor", "create", "m1.tiny", "--vcpus", "1", "--ram", "256")[0] == 0
    assert kumo("keypair", "create", "laptop")[0] == 0
    with db.session_scope() as s:  # another user's key pair is not offered
        s.add(KeyPair(name="lost", user_id="bob", project_id="p", public_key="k",
                      fingerprint="f"))
    monkeypatch.setenv("_KUMO_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    from kumo.cli.main import main
    with pytest.raises(SystemExit):
        main([])
    out = capsys.readouterr().out
    assert out.splitlines() == [f"plain,{n}" for n in offered]


def test_no_database_offers_nothing_and_creates_none(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path / "none"))
    monkeypatch.delenv("KUMO_DATABASE_URL", raising=False)
    monkeypatch.setenv("_KUMO_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "kumo server show ")
    monkeypatch.setenv("COMP_CWORD", "3")
    from kumo.cli.main import main
    with pytest.raises(SystemExit):
        main([])
    assert capsys.readouterr().out.strip() == ""
    assert not (tmp_path / "none").exists()
