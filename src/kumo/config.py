"""kumo's configuration: one model for ``kumo serve`` and every ``kumo`` command.

Where a value comes from, last wins:

    1. the defaults below;
    2. the TOML file: ``--config FILE`` (kumo serve), else ``$KUMO_CONFIG``, else
       ``/etc/kumo/kumo.toml`` when it exists (a file named explicitly must exist);
    3. environment variables: ``KUMO_<KEY>`` for every key (``KUMO_LOG_FORMAT=json``). An empty
       variable counts as unset.

Every key is listed in ``Settings`` with its meaning and what it allows (README "Configuration"
repeats the table). An unknown key or a bad value is ConfigError, one line naming where it came
from, the key, the value and what is allowed -- never a traceback, never half a configuration.

Why pydantic: the keys are typed (paths, seconds, ports, enums) and a bad value must be named
with what is allowed; pydantic's validation gives the failing key, the value and the rule
(``extra="forbid"`` catches unknown keys), so this module only words the error.

Nothing is created on disk here: the database layer creates the SQLite file's directory when it
first connects, the image store creates its own directory.
"""

from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kumo.errors import ConfigError
from kumo.hosts.capabilities import DEFAULT_PCIE_ROOT_PORTS, MAX_PCIE_ROOT_PORTS

DEFAULT_DATA_DIR = "~/.local/share/kumo"
DEFAULT_CONFIG_FILE = Path("/etc/kumo/kumo.toml")
CONFIG_ENV = "KUMO_CONFIG"
ENV_PREFIX = "KUMO_"

_SECONDS = "a number of seconds"


def _key(default: Any, doc: str, allowed: str, **kwargs: Any) -> Any:
    """A configuration key: its default, what it means (README), what it allows (errors)."""
    return Field(default, description=doc, json_schema_extra={"allowed": allowed}, **kwargs)


class Settings(BaseModel):
    """Every configuration key (the TOML file's top-level keys, KUMO_<KEY> in the environment)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    # --- where things are -----------------------------------------------------------------------
    data_dir: Path = _key(Path(DEFAULT_DATA_DIR), "data directory (SQLite file, image store)",
                          "a directory path")
    database_url: str = _key(
        "", "SQLAlchemy database URL; empty: sqlite:///<data_dir>/kumo.db (PostgreSQL: "
        "postgresql+psycopg://kumo@127.0.0.1:55432/kumo)", "a database URL")
    image_dir: Path | None = _key(None, "image store directory; default <data_dir>/images",
                                  "a directory path")
    guest_timezone: str | None = _key(
        None, "time zone local-time guests (Windows) keep their RTC in; default the host's",
        "an IANA zone such as Asia/Shanghai")
    pcie_root_ports: int = _key(
        DEFAULT_PCIE_ROOT_PORTS, "PCIe root ports a q35 guest gets for hot-plug (Nova's "
        "num_pcie_ports; why 16: kumo.guest.policy.pcie)",
        f"an integer 0..{MAX_PCIE_ROOT_PORTS}", ge=0, le=MAX_PCIE_ROOT_PORTS)
    vnc_listen: str = _key(
        "127.0.0.1", "address each guest's VNC display listens on, on its host (Nova's "
        "[vnc]server_listen); the default reaches it only from the host itself",
        "an IP address")
    pool_name: str = _key("kumo", "libvirt storage pool kumo keeps its volumes in, on every host",
                          "a libvirt pool name", min_length=1)
    pool_path: str = _key("/var/lib/kumo/pool", "that pool's directory on each host",
                          "an absolute path", pattern=r"^/")
    credential_key_file: Path | None = _key(
        None, "the key EC2 credentials' secrets are sealed with (32 random bytes, made 0600 on "
        "first use); default <data_dir>/credential.key. Controllers sharing a database need "
        "the same file", "a file path")
    stop_timeout: float = _key(60.0, "seconds a graceful guest shutdown may take before the "
                               "domain is destroyed (Nova's shutdown_timeout)", f"{_SECONDS} > 0",
                               gt=0)

    # --- the controller -------------------------------------------------------------------------
    controller_name: str = _key(
        "", "this controller's name in journal ownership and logs; default the machine's "
        "hostname", "a name without ':'", pattern=r"^[^:]*$", max_length=200)
    journal_lease: float = _key(
        30.0, "seconds a controller owns a journal entry it works on without renewing it; "
        "another controller takes over an entry whose lease expired", f"{_SECONDS} >= 3", ge=3)
    shutdown_timeout: float = _key(
        30.0, "seconds kumo serve waits on SIGTERM for running work before handing it back "
        "through the journal", f"{_SECONDS} >= 0", ge=0)

    # --- logging --------------------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = _key(
        "info", "least severe level logged (--debug / -v: debug)", "debug, info, warning, error")
    log_format: Literal["plain", "json"] = _key(
        "plain", "one line per event: plain text or a JSON object", "plain, json")
    log_file: Path | None = _key(None, "file to append log lines to; default stderr",
                                 "a file path")

    # --- HTTP -----------------------------------------------------------------------------------
    bind: str = _key("127.0.0.1", "address kumo serve's HTTP server listens on",
                     "an IP address or host name", min_length=1)
    port: int = _key(8774, "its TCP port", "an integer 1..65535", ge=1, le=65535)
    token_expiration: float = _key(
        3600.0, "seconds an Identity API token is valid (Keystone's [token] expiration)",
        f"{_SECONDS} >= 60", ge=60)
    # 112 KiB: oslo.middleware's max_request_body_size, what Nova's API runs behind; a server
    # create carrying the largest user data Nova allows (65535 characters of base64) must fit
    max_request_body: int = _key(
        114688, "bytes an API request body may have (image data uploads excepted)",
        "an integer >= 1024", ge=1024)
    api_workers: int = _key(
        1, "HTTP processes serving the APIs on bind:port (the periodic work runs in the first "
        "only)", "an integer 1..64", ge=1, le=64)
    tls_cert_file: Path | None = _key(
        None, "PEM certificate (chain) of kumo serve's HTTP server; with tls_key_file it speaks "
        "HTTPS only", "a file path")
    tls_key_file: Path | None = _key(None, "PEM private key of tls_cert_file", "a file path")

    # --- periodic work (0 disables a task) ------------------------------------------------------
    sync_power_state_interval: float = _key(
        60.0, "seconds between power-state syncs (record vs what the host reports; Nova's "
        "sync_power_state_interval)", f"{_SECONDS} >= 0", ge=0)
    sync_power_state_restart: bool = _key(
        False, "start again a guest found shut off outside kumo (default: only record it "
        "SHUTOFF)", "true, false")
    host_probe_interval: float = _key(
        30.0, "seconds between host liveness probes", f"{_SECONDS} >= 0", ge=0)
    host_keepalive_interval: int = _key(
        5, "seconds between libvirt keepalive messages on a host connection (virConnect"
        "SetKeepAlive)", "an integer >= 1", ge=1)
    host_keepalive_count: int = _key(
        3, "keepalive messages unanswered before the connection counts as dead",
        "an integer >= 1", ge=1)
    auto_evacuate: bool = _key(
        False, "kumo serve fences (the host's fence command) and evacuates a host seen down by "
        "auto_evacuate_after probes in a row; never a host that is unknown or not fenced. "
        "Root disks are rebuilt from their images (no shared storage): turning this on "
        "accepts that", "true, false")
    auto_evacuate_after: int = _key(
        3, "consecutive liveness probes that must find a host down before the automatic mode "
        "fences and evacuates it", "an integer >= 1", ge=1)
    evacuate_parallel: int = _key(
        3, "instances an evacuation moves at once (Masakari's host_failure_recovery_threads)",
        "an integer 1..64", ge=1, le=64)
    fence_timeout: float = _key(
        60.0, "seconds a host's fence command may run before it is killed (and the host "
        "counts as not fenced)", f"{_SECONDS} > 0", gt=0)
    recovery_interval: float = _key(
        30.0, "seconds between looks for unfinished journal entries of controllers that are "
        "gone", f"{_SECONDS} >= 0", ge=0)
    image_cache_interval: float = _key(
        600.0, "seconds between image-cache aging runs (Nova's image_cache.manager_interval)",
        f"{_SECONDS} >= 0", ge=0)
    audit_interval: float = _key(
        0.0, "seconds between periodic audits of every instance (kumo audit --all-projects); "
        "findings that change are recorded as instance events; 0: off",
        f"{_SECONDS} >= 0", ge=0)
    resize_confirm_window: float = _key(
        0.0, "seconds after which kumo serve confirms a migrated or resized server left in "
        "VERIFY_RESIZE (Nova's resize_confirm_window); 0: never", f"{_SECONDS} >= 0", ge=0)
    image_cache_max_age: float = _key(
        86400.0, "seconds a cached image volume stays on a host unused before it is removed "
        "(Nova's remove_unused_original_minimum_age_seconds)", f"{_SECONDS} >= 0", ge=0)

    @field_validator("vnc_listen", mode="after")
    @classmethod
    def _ip_address(cls, value: str) -> str:
        import ipaddress

        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("not an IP address") from None

    @field_validator("data_dir", "image_dir", "log_file", "tls_cert_file", "tls_key_file",
                     "credential_key_file",
                     mode="after")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else _path(value)

    def model_post_init(self, _context: Any) -> None:
        # derived defaults, so every reader sees the one answer
        if not self.database_url:
            object.__setattr__(self, "database_url", sqlite_url(self.data_dir / "kumo.db"))
        if self.image_dir is None:
            object.__setattr__(self, "image_dir", self.data_dir / "images")
        if self.credential_key_file is None:
            object.__setattr__(self, "credential_key_file", self.data_dir / "credential.key")
        if not self.controller_name:
            object.__setattr__(self, "controller_name", socket.gethostname())

    # --- loading --------------------------------------------------------------------------------

    @classmethod
    def load(cls, config_file: str | Path | None = None,
             environ: Mapping[str, str] | None = None) -> "Settings":
        """Defaults, then the config file (see the module docstring), then KUMO_<KEY>
        variables. ConfigError (one line) for an unreadable file, an unknown key or a bad
        value."""
        env = os.environ if environ is None else environ
        path, explicit = _config_path(config_file, env)
        values: dict[str, tuple[Any, str]] = {}
        if path is not None and (explicit or path.exists()):
            for key, value in _read_toml(path).items():
                values[key] = (value, f"config file {path}: {key} = {value!r}")
        for key in cls.model_fields:
            raw = env.get(ENV_PREFIX + key.upper(), "").strip()
            if raw:
                values[key] = (raw, f"{ENV_PREFIX}{key.upper()}={raw}")
        unknown = [k for k in values if k not in cls.model_fields]
        if unknown:
            _value, where = values[unknown[0]]
            raise ConfigError(f"{where}: unknown key; allowed keys: "
                              f"{', '.join(cls.model_fields)}")
        try:
            return cls(**{k: v for k, (v, _w) in values.items()})
        except ValidationError as e:
            err = e.errors()[0]
            key = str(err["loc"][0]) if err["loc"] else "?"
            where = values.get(key, (None, key))[1]
            raise ConfigError(f"{where} is invalid: allowed {cls.allowed(key)} "
                              f"({err['msg'].lower()})") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The configuration as every command reads it (``load`` with no explicit file)."""
        return cls.load(None, environ)

    @classmethod
    def allowed(cls, key: str) -> str:
        field = cls.model_fields.get(key)
        extra = field.json_schema_extra if field is not None else None
        return str(extra.get("allowed")) if isinstance(extra, dict) else "?"

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str, str]]:
        """(key, environment variable, default, meaning) of every key, for the README."""
        rows = []
        for key, field in cls.model_fields.items():
            default = field.default
            shown = "" if default in (None, "") else str(default).lower() if isinstance(
                default, bool) else str(default)
            rows.append((key, ENV_PREFIX + key.upper(), shown, field.description or ""))
        return rows


def _config_path(config_file: str | Path | None,
                 env: Mapping[str, str]) -> tuple[Path | None, bool]:
    """The config file to read and whether it was named explicitly (then it must exist)."""
    if config_file is not None and str(config_file).strip():
        return _path(config_file), True
    named = env.get(CONFIG_ENV, "").strip()
    if named:
        return _path(named), True
    return DEFAULT_CONFIG_FILE, False


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"config file {path} cannot be read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    tables = [k for k, v in data.items() if isinstance(v, dict)]
    if tables:
        raise ConfigError(f"config file {path}: [{tables[0]}] is not a kumo setting; allowed: "
                          "top-level keys only (key = value)")
    return data


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of the SQLite database file at ``path`` (made absolute)."""
    return f"sqlite:///{_path(path)}"


def _path(value: str | Path) -> Path:
    return Path(value).expanduser().absolute()

