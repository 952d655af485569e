"""kumo.config: defaults, the TOML file, KUMO_<KEY> overriding it, and one-line errors naming
the key, the value and what is allowed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kumo.config import Settings
from kumo.errors import ConfigError


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kumo.toml"
    path.write_text(text)
    return path


def test_file_then_environment(tmp_path):
    path = _file(tmp_path, 'log_format = "json"\nport = 9000\nsync_power_state_interval = 5\n'
                           'data_dir = "/srv/kumo"\n')
    s = Settings.load(path, {"KUMO_PORT": "9100", "KUMO_LOG_FILE": ""})
    assert (s.log_format, s.port, s.sync_power_state_interval, s.log_file) == (
        "json", 9100, 5.0, None)
    assert (s.database_url, s.image_dir) == ("sqlite:////srv/kumo/kumo.db",
                                              Path("/srv/kumo/images"))


def test_kumo_config_names_the_file(tmp_path):
    path = _file(tmp_path, 'bind = "127.0.0.2"\n')
    assert Settings.from_env({"KUMO_CONFIG": str(path)}).bind == "127.0.0.2"


@pytest.mark.parametrize("text, env, message", [
    ('log_format = "xml"\n', {},
     "config file {f}: log_format = 'xml' is invalid: allowed plain, json (input should be "
     "'plain' or 'json')"),
    ("port = 70000\n", {},
     "config file {f}: port = 70000 is invalid: allowed an integer 1..65535 (input should be "
     "less than or equal to 65535)"),
    ("journal_lease = 1\n", {},
     "config file {f}: journal_lease = 1 is invalid: allowed a number of seconds >= 3 (input "
     "should be greater than or equal to 3)"),
    ('pool_path = "relative"\n', {},
     "config file {f}: pool_path = 'relative' is invalid: allowed an absolute path (string "
     "should match pattern '^/')"),
    ("sync_power_state_intervall = 5\n", {},
     "config file {f}: sync_power_state_intervall = 5: unknown key; allowed keys: data_dir, "),
    ("[serve]\nport = 1\n", {},
     "config file {f}: [serve] is not a kumo setting; allowed: top-level keys only "
     "(key = value)"),
    ("port = \n", {}, "config file {f} is not valid TOML: "),
    ("", {"KUMO_SYNC_POWER_STATE_RESTART": "maybe"},
     "KUMO_SYNC_POWER_STATE_RESTART=maybe is invalid: allowed true, false (input should be a "
     "valid boolean, unable to interpret input)"),
], ids=["enum", "port-range", "lease-minimum", "pattern", "unknown-key", "table", "bad-toml",
        "env-bool"])
def test_bad_configuration_is_one_line(tmp_path, text, env, message):
    path = _file(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        Settings.load(path, env)
    assert str(e.value).startswith(message.format(f=path))
    assert "\n" not in str(e.value)


def test_a_named_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match=f"^config file {tmp_path}/nope.toml does not exist$"):
        Settings.from_env({"KUMO_CONFIG": str(tmp_path / "nope.toml")})


def test_every_key_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [key for key, _env, _default, _doc in Settings.documentation()
               if f"`{key}`" not in readme]
    assert missing == []


@pytest.mark.parametrize("argv", [["host", "list"], ["serve"]], ids=["cli", "serve"])
def test_commands_print_one_line_for_a_bad_file(tmp_path, argv):
    path = _file(tmp_path, 'log_format = "xml"\n')
    r = subprocess.run([sys.executable, "-m", "kumo.cli.main", "--config", str(path), *argv],
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"kumo: error: config file {path}: log_format = 'xml' is invalid: "
                        "allowed plain, json (input should be 'plain' or 'json')\n")


@pytest.mark.parametrize("value, ports", [(None, 16), ("0", 0), ("28", 28), ("4", 4)],
                         ids=["default", "none", "ceiling", "some"])
def test_pcie_root_ports(value, ports):
    env = {} if value is None else {"KUMO_PCIE_ROOT_PORTS": value}
    assert Settings.from_env(env).pcie_root_ports == ports


@pytest.mark.parametrize("value, why", [
    ("29", "input should be less than or equal to 28"),
    ("-1", "input should be greater than or equal to 0"),
], ids=["above-novas-ceiling", "negative"])
def test_pcie_root_ports_refused(value, why):
    with pytest.raises(ConfigError) as e:
        Settings.from_env({"KUMO_PCIE_ROOT_PORTS": value})
    assert str(e.value) == (f"KUMO_PCIE_ROOT_PORTS={value} is invalid: allowed an integer 0..28 "
                            f"({why})")
