"""kumo serve's HTTP side: TLS and worker processes.

TLS: with ``tls_cert_file`` and ``tls_key_file`` the server speaks HTTPS only (uvicorn's
ssl_certfile/ssl_keyfile). Both are loaded here first (``ssl.SSLContext.load_cert_chain``), so
a missing file, a key that does not match the certificate or a file that is no PEM is one
line naming the setting before anything starts -- not a traceback from inside uvicorn.

Workers: ``api_workers`` N > 1 runs N-1 more processes, each with its own uvicorn server and
database connections, on the same address: every process binds its own listening socket with
SO_REUSEPORT and the kernel spreads new connections over them (Linux >= 3.9). The periodic work,
the journal recovery and the SQLite controller lock stay in the main process; a worker serves
requests only (its Controller is never started). A worker exits when the main process is gone.
/metrics answered by a worker shows that worker's request-side counters and the gauges read
from the database; the periodic tasks' counters are the main process's.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

from kumo.config import Settings
from kumo.errors import ConfigError


def check_tls(settings: Settings) -> None:
    """ConfigError (one line) unless the TLS settings are both unset or both usable."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if (cert is None) != (key is None):
        given = "tls_cert_file" if cert is not None else "tls_key_file"
        raise ConfigError(f"{given} is set without its pair: set both tls_cert_file and "
                          "tls_key_file (HTTPS), or neither (HTTP)")
    if cert is None:
        return
    for name, path in (("tls_cert_file", cert), ("tls_key_file", key)):
        if not Path(path).is_file():
            raise ConfigError(f"{name} = {str(path)!r} is invalid: allowed a readable PEM file "
                              "(it does not exist or is not a file)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as e:
        raise ConfigError(f"tls_cert_file {str(cert)!r} with tls_key_file {str(key)!r} cannot "
                          f"be used: {getattr(e, 'reason', None) or e} (a PEM certificate and "
                          "the private key that matches it are allowed)") from None


def listen(settings: Settings) -> socket.socket:
    """The listening socket of one HTTP process (SO_REUSEPORT when there are several)."""
    family = socket.AF_INET6 if ":" in settings.bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if settings.api_workers > 1:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((settings.bind, settings.port))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {settings.bind}:{settings.port} (bind, port): "
                          f"{e.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any, settings: Settings) -> Any:
    import uvicorn

    return uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                          ssl_certfile=str(settings.tls_cert_file or "") or None,
                          ssl_keyfile=str(settings.tls_key_file or "") or None)


def scheme(settings: Settings) -> str:
    return "https" if settings.tls_cert_file else "http"


def start_workers(config_file: str | None, settings: Settings) -> list[Any]:
    """Start ``api_workers`` - 1 worker processes (spawned: no state shared with this one)."""
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for i in range(1, settings.api_workers):
        p = ctx.Process(target=_worker, args=(config_file, os.getpid()),
                        name=f"kumo-api-{i}", daemon=True)
        p.start()
        procs.append(p)
    return procs


def stop_workers(procs: list[Any], timeout: float = 10.0) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def _worker(config_file: str | None, parent: int) -> None:
    """A worker process: the app over a controller that is never started, until SIGTERM or
    until the main process is gone."""
    import uvicorn

    from kumo import logs
    from kumo.api.app import create_app
    from kumo.serve.controller import Controller

    settings = Settings.load(config_file)
    logs.setup(settings.log_level, settings.log_format, settings.log_file,
               settings.controller_name)
    server = uvicorn.Server(uvicorn_config(create_app(Controller(settings)), settings))
    from kumo.scheduler import kernel  # as ``kumo serve`` does: compiled placement, loaded aside
    kernel.load_in_background(lambda e: logs.get("kumo.serve").warning(
        "scheduler: compiled kernel unavailable (%s); placing with the numpy path", e))

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        server.should_exit = True

    threading.Thread(target=watch_parent, daemon=True).start()
    server.run(sockets=[listen(settings)])
