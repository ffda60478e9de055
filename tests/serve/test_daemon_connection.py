"""The daemon's broker connection against a real Mosquitto: TLS with a password, a wrong password, MQTT 3.1.1,
waiting for the broker's acknowledgements, and a socket without Nagle's delay."""

import json
import signal
import socket
import threading
import time

import pytest

pytest.importorskip("keras")

from tests.serve.test_daemon import T0, _daemon, _publish, _samples, series
from tests.support.mqtt import Collector, DaemonProcess, publisher


def test_tls_and_password(tmp_path, bundle):
    from tests.support.mosquitto import tls_password_broker

    broker = tls_password_broker(tmp_path / "tls-broker", "edge", "s3cret!").start()
    try:
        import paho.mqtt.client as mqtt

        def client(name):
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
            c.tls_set(ca_certs=str(broker.ca))
            c.username_pw_set("edge", "s3cret!")
            return c

        received, ready = [], threading.Event()
        sub = client("sub")
        sub.on_connect = lambda c, *a: c.subscribe("edge-lstm/#", qos=1)
        sub.on_subscribe = lambda *a: ready.set()
        sub.on_message = lambda c, u, m: received.append((m.topic, json.loads(m.payload)))
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        assert ready.wait(10)
        daemon = DaemonProcess(["--bundle", str(bundle), "--broker", f"mqtts://edge:s3cret%21@localhost:{broker.port}",
                                "--set", f"mqtt.ca_file={broker.ca}", "--set", "stats.every_s=0.5", "--node-id", "tls"],
                               tmp_path / "daemon.log")
        pub = client("pub")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(t.endswith("status") and b.get("state") == "online"
                                                      for t, b in received):
            time.sleep(0.05)
        for i, v in enumerate(series(50)):
            pub.publish("sensors/tls/vib", json.dumps({"ts": T0 + i, "value": float(v)}), qos=1)
        while time.monotonic() < deadline and not any(t.endswith("stats") and b["samples"] >= 50 for t, b in received):
            time.sleep(0.05)
        assert any(t.endswith("stats") and b["samples"] == 50 for t, b in received), daemon.output()
        assert daemon.stop() == 0
        pub.loop_stop()
        sub.loop_stop()
    finally:
        broker.stop()


def test_wrong_password_is_reported_and_retried(tmp_path, bundle):
    from tests.support.mosquitto import tls_password_broker

    broker = tls_password_broker(tmp_path / "tls-broker", "edge", "right").start()
    try:
        daemon = DaemonProcess(["--bundle", str(bundle), "--broker", f"mqtts://edge:wrong@localhost:{broker.port}",
                                "--set", f"mqtt.ca_file={broker.ca}", "--node-id", "bad"], tmp_path / "daemon.log")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "refused" not in daemon.output():
            time.sleep(0.1)
        assert "refused" in daemon.output() and daemon.process.poll() is None
        assert daemon.stop() == 0
    finally:
        broker.stop()


def test_mqtt_311(tmp_path, bundle, broker):
    collector = Collector(broker.port)
    daemon = _daemon(tmp_path, bundle, broker, "--set", "mqtt.protocol=3.1.1")
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online")
        pub = publisher(broker.port)
        _publish(pub, series(40))
        assert collector.wait_for(lambda: _samples(collector) >= 40), daemon.output()
        assert daemon.stop() == 0
        pub.loop_stop()
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()


def test_worker_waits_for_the_broker_to_acknowledge_events(tmp_path, bundle, broker):
    """With at most one unacknowledged event, every pass waits for the broker: nothing is lost or
    reordered, and the waits are counted."""
    collector = Collector(broker.port)
    daemon = _daemon(tmp_path, bundle, broker, "--set", "processing.max_unacked=1", "--set", "forecast.every=1",
                     "--set", "processing.batch_max=1")
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online"), daemon.output()
        pub = publisher(broker.port)
        x = series(300)
        for start in range(0, 300, 50):
            batch = [{"ts": T0 + i, "value": float(x[i])} for i in range(start, start + 50)]
            pub.publish("sensors/pump/vib", json.dumps(batch), qos=1)
        assert collector.wait_for(lambda: len(collector.matching("forecast")) >= 300), daemon.output()
        assert [round(f["ts"] - T0) for f in collector.matching("forecast")] == list(range(300))
        stats = lambda: collector.latest("stats") or {}  # noqa: E731
        assert collector.wait_for(lambda: stats().get("outbox_waits", 0) > 0 and stats()["unacked_events"] == 0)
        pub.loop_stop()
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()


def test_the_daemons_socket_sends_without_nagle_delay(bundle, broker):
    """paho leaves Nagle's algorithm on; the daemon turns it off, else a burst of events waits ~40 ms
    for the broker's delayed ACK (bursts p99 61-75 -> 20-35 ms, docs/benchmarks.md)."""

    from edge_lstm.serve.config import load_config
    from edge_lstm.serve.daemon import Daemon

    daemon = Daemon(load_config(None, {"model.bundle": str(bundle), "mqtt.broker": broker.url}))
    daemon.connect()
    try:
        assert daemon.connected.wait(10)
        assert daemon.client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        daemon.client.disconnect()
        daemon.client.loop_stop()
