"""MQTT broker addresses: ``mqtt[s]://[user[:password]@]host[:port]``."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL; the port defaults to 1883 (mqtt) or 8883 (mqtts).

    >>> parse_broker_url("mqtts://ann:s%40cret@gw.local")
    BrokerAddress(host='gw.local', port=8883, tls=True, username='ann', password='s@cret')
    >>> parse_broker_url("localhost:1884").port
    1884
    """
    if "://" not in url:
        url = "mqtt://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"broker URL {url!r}: no host")
    tls = parts.scheme in ("mqtts", "ssl")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError(f"broker URL {url!r}: the port must be a number from 1 to 65535") from None
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def no_delay(client: Any, userdata: Any, sock: Any) -> None:
    """paho ``on_socket_open`` callback: turn off Nagle's algorithm on the client's socket. paho leaves
    it on, so a burst of small packets waits for the broker's delayed ACK (~40 ms on Linux) before
    it is sent."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):  # not a TCP socket (a WebSocket wrapper, a Unix socket)
        pass
