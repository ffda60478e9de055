"""systemd's notify protocol (Type=notify): READY=1, WATCHDOG=1, STOPPING=1."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("edge_lstm.serve.daemon")


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) about READY=1 / WATCHDOG=1 / STOPPING=1; a no-op elsewhere."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.connect(address)
            s.sendall(message.encode())
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)
