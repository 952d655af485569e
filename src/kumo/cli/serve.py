"""``kumo serve [--config FILE]``: the controller as a long-running service (kumo.serve).

Runs the periodic work and the HTTP server (``bind``:``port``, default 127.0.0.1:8774) until
SIGTERM or SIGINT, then stops gracefully (kumo.serve.controller). Logs go where the
configuration says (log_file, log_format, log_level; ``-v``/``--debug``: debug).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

import click


@click.command("serve")
@click.option("--config", "config_file", default=None, metavar="FILE",
              help="Configuration file (default: $KUMO_CONFIG, else /etc/kumo/kumo.toml).")
@click.pass_context
def serve(ctx: click.Context, config_file: str | None) -> None:
    """Run the controller as a service: periodic power-state sync, host liveness, recovery,
    image-cache aging; /healthcheck, /metrics.

    Runs until SIGTERM or SIGINT, then stops taking work, waits for what is in progress (up to
    shutdown_timeout) and hands the rest back through the journal."""
    from kumo import logs
    from kumo.api.app import create_app
    from kumo.config import CONFIG_ENV, Settings
    from kumo.serve import http
    from kumo.serve.controller import Controller

    if config_file:
        os.environ[CONFIG_ENV] = config_file
    settings = Settings.load(config_file)
    flags = ctx.obj or {}
    level = "debug" if flags.get("debug") or flags.get("verbose") else settings.log_level
    logs.setup(level, settings.log_format, settings.log_file, settings.controller_name)
    log = logs.get("kumo.serve")

    http.check_tls(settings)
    # the scheduler's compiled kernel: a long-running process pays numba's import and compile
    # once, in the background, and places with the numpy path meanwhile (the same decisions)
    from kumo.scheduler import kernel
    kernel.load_in_background(lambda e: log.warning(
        "scheduler: compiled kernel unavailable (%s); placing with the numpy path", e))
    controller = Controller(settings)
    sock = http.listen(settings)
    controller.start()
    server = _server(http.uvicorn_config(create_app(controller), settings))
    workers = http.start_workers(config_file, settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="kumo-http",
                              daemon=True)
    thread.start()
    log.info("%s on %s://%s:%d (/healthcheck, /metrics, the OpenStack APIs), %d process%s",
             http.scheme(settings).upper(), http.scheme(settings), settings.bind, settings.port,
             settings.api_workers, "es" if settings.api_workers != 1 else "")
    while not stop.wait(0.5):
        if not thread.is_alive():  # the server failed: nothing to serve
            log.error("the HTTP server stopped; stopping")
            break
    server.should_exit = True
    http.stop_workers(workers)
    controller.stop()
    thread.join(timeout=10)


def _server(config: object) -> object:
    """uvicorn's server with its signal handling left to ``serve``: uvicorn re-raises SIGTERM
    after its own shutdown, which would kill the process before the controller hands its work
    back. (uvicorn is imported here, not at the top: the CLI starts fast.)"""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[override]
            yield

    return Server(config)
