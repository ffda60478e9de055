"""Test helpers around a real broker: a collecting subscriber (the publisher and the daemon in a subprocess are
edge_lstm.demo.brokers', which the benchmarks use too)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from edge_lstm.demo.brokers import DaemonProcess, publisher


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Whether ``predicate()`` came true within ``timeout`` seconds (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


class Collector:
    """Subscribes to ``topic`` and keeps every message (topic, decoded JSON or raw bytes); ``protocol``:
    MQTTv311 for RabbitMQ 3.10's plugin."""

    def __init__(self, port: int, topic: str = "edge-lstm/#", protocol: int = mqtt.MQTTv5) -> None:
        self.messages: list[tuple[str, object]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"collector-{time.time_ns()}",
                                  protocol=protocol)
        ready = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10), "collector could not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        try:
            body: object = json.loads(msg.payload)
        except ValueError:
            body = msg.payload
        with self.lock:
            self.messages.append((msg.topic, body))

    def matching(self, suffix: str) -> list:
        with self.lock:
            return [b for t, b in self.messages if t.endswith(suffix) or f"/{suffix}/" in t]

    def latest(self, suffix: str) -> object:
        found = self.matching(suffix)
        return found[-1] if found else None

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        return wait_for(predicate, timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


__all__ = ["Collector", "DaemonProcess", "publisher", "wait_for"]
