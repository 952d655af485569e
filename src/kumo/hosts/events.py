"""libvirt's event loop and keepalive, for a long-running controller (kumo serve).

libvirt sends keepalive messages on a client connection only when the process runs an event
loop (virEventRegisterDefaultImpl + virEventRunDefaultImpl in a thread); then
``virConnectSetKeepAlive(interval, count)`` makes a connection whose peer stops answering for
``interval * (count + 1)`` seconds close itself, and its close callback fires
(https://libvirt.org/html/libvirt-libvirt-host.html#virConnectSetKeepAlive). ``start`` runs
that loop once per process; LibvirtHost.open then enables keepalive on every connection and
reports a closed connection to ``on_close`` (host liveness marks the host down at once instead
of at its next probe). Short-lived CLI commands run no loop and need none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import libvirt

from kumo import logs

log = logs.get(__name__)

_started = False
_lock = threading.Lock()
#: (interval seconds, count) for virConnectSetKeepAlive once the loop runs
keepalive: tuple[int, int] = (5, 3)
#: called with (uri, reason) when a kept-alive connection closes
_listeners: list[Callable[[str, str], None]] = []

#: virConnectCloseReason -> words
CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "misc I/O error",
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "end of file from the daemon",
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "keepalive timer expired",
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "closed by the client",
}


def start(interval: int, count: int) -> None:
    """Register libvirt's default event loop and run it in a daemon thread (once)."""
    global _started, keepalive
    with _lock:
        keepalive = (interval, count)
        if _started:
            return
        libvirt.virEventRegisterDefaultImpl()
        threading.Thread(target=_run, name="kumo-libvirt-events", daemon=True).start()
        _started = True
    log.info("libvirt event loop started; keepalive every %s s, %s missed = dead", interval,
             count)


def running() -> bool:
    return _started


def _run() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def on_close(listener: Callable[[str, str], None]) -> None:
    _listeners.append(listener)


def connection_closed(uri: str, reason: int) -> None:
    words = CLOSE_REASONS.get(reason, f"reason {reason}")
    log.warning("connection to %s closed: %s", uri, words, extra={"host": uri})
    for listener in list(_listeners):
        try:
            listener(uri, words)
        except Exception:
            log.exception("close listener failed")
