"""The daemon's broker connection as an operator sees it: connected or not, and why not.

paho retries a failed connection by itself (with the back-off of ``reconnect_delay_set``) but tells
``on_connect_fail`` only *that* it failed. :class:`Client` keeps the exception of the last attempt, and
:class:`ConnectionStatus` turns it into one log line per failed attempt with its reason (refused, DNS,
TLS verification, timeout; a broker's refusal, such as "Not authorized", comes in its CONNACK) and
into the ``connected`` / ``last_error`` / ``connect_failures`` of the daemon's stats.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from edge_lstm.serve.broker import BrokerAddress

log = logging.getLogger("edge_lstm.serve.daemon")


class Client(mqtt.Client):
    """paho's client, remembering why its last connection attempt failed."""

    connect_error: OSError | None = None

    def reconnect(self) -> mqtt.MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:  # (paho's network loop catches it, calls on_connect_fail and retries)
            self.connect_error = exc
            raise


def describe(exc: BaseException, host: str, port: int) -> str:
    """Why a connection to ``host:port`` failed, in an operator's words.

    >>> describe(ConnectionRefusedError(111, "Connection refused"), "gw", 1883)
    'connection refused by gw:1883 (is the broker running, on that port?)'
    """
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {host}:{port} (is the broker running, on that port?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name {host!r} (DNS: {exc.strerror or exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"TLS: the broker's certificate failed verification ({exc.verify_message}): "
                "set mqtt.ca_file to the CA that signed it")
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {host}:{port} failed ({exc.reason or exc})"
    if isinstance(exc, TimeoutError):
        return f"no answer from {host}:{port} (timed out)"
    return f"cannot connect to {host}:{port}: {exc.strerror or exc}"


class ConnectionStatus:
    """Connected or not, the last error, and failed attempts counted; thread-safe (paho's thread writes)."""

    def __init__(self, broker: str) -> None:
        self.broker = broker
        self._lock = threading.Lock()
        self.connected = False
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.failures = 0  # failed attempts since start
        self._in_a_row = 0

    def failed(self, reason: str) -> None:
        """One attempt failed: log it (each attempt: paho's back-off spaces them) and keep the reason."""
        with self._lock:
            self.connected = False
            self.failures += 1
            self._in_a_row += 1
            self.last_error, self.last_error_at = reason, time.time()
            n = self._in_a_row
        log.warning("cannot connect to %s: %s (attempt %d; retrying with back-off)", self.broker, reason, n)

    def up(self) -> None:
        with self._lock:
            self.connected, self._in_a_row = True, 0

    def down(self, reason: str) -> None:
        with self._lock:
            self.connected = False
            self.last_error, self.last_error_at = reason, time.time()

    def stats(self) -> dict:
        with self._lock:
            return {"connected": self.connected, "last_error": self.last_error,
                    "last_error_at": self.last_error_at, "connect_failures": self.failures}


def mqtt_client(mc: dict[str, Any], broker: BrokerAddress, node: str, max_inflight: int) -> Client:
    """A paho client as the ``[mqtt]`` table says: persistent session, manual acknowledgements, ``max_inflight``
    QoS 1 messages in flight, no queue of its own, back-off between attempts, credentials and TLS."""
    v5 = mc["protocol"] == "5"
    client = Client(mqtt.CallbackAPIVersion.VERSION2, client_id=mc["client_id"] or f"edge-lstm-{node}",
                    protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, clean_session=None if v5 else False,
                    manual_ack=True)
    client.max_inflight_messages_set(max_inflight)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(min_delay=int(max(1, mc["reconnect_min_s"])), max_delay=int(mc["reconnect_max_s"]))
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(ca_certs=mc["ca_file"] or None, certfile=mc["cert_file"] or None,
                       keyfile=mc["key_file"] or None, cert_reqs=ssl.CERT_REQUIRED)
    return client


def receive_maximum(queue_size: int) -> int:
    """The MQTT 5 Receive Maximum the daemon announces: its queue, within the protocol's 1-65,535.

    >>> receive_maximum(100_000), receive_maximum(500)
    (65535, 500)
    """
    return max(1, min(65_535, queue_size))
