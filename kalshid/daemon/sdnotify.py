"""systemd's notify protocol in a few lines (``READY=1``, ``STOPPING=1``, ``STATUS=...``).

The ``sdnotify`` package swallows errors silently; this one reports them: it returns
False when not running under a notifying systemd (no ``NOTIFY_SOCKET``) and raises ``OSError`` when the
socket is set but unusable, so the caller can log it.
"""

import os
import socket
from collections.abc import Mapping


def sd_notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd. True if sent, False if there is no socket."""
    addr = (os.environ if environ is None else environ).get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr[0] == "@":  # an abstract socket: Linux spells it with a leading NUL byte
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect(addr)
        s.sendall(state.encode())
    return True
