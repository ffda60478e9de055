"""The daemon against a real Mosquitto: events, bad input, broker restarts, crashes, config errors."""

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

import edge_lstm
from tests.support.keras_models import sine_series
from tests.support.mqtt import Collector, DaemonProcess, publisher

T0 = 1_700_000_000.0


def series(n: int, spike_at: int | None = None) -> np.ndarray:
    x = sine_series(n, seed=11)
    if spike_at is not None:
        x[spike_at] += 4.0
    return x


def _daemon(tmp_path, bundle, broker, *extra):
    args = ["--bundle", str(bundle), "--broker", broker.url, "--node-id", "n1", "--checkpoint",
            str(tmp_path / "state.npz"), "--set", "stats.every_s=0.5", "--set", "anomaly.warmup=60",
            "--set", "forecast.every=25", "--set", "state.checkpoint_every_s=0.5", *extra]
    return DaemonProcess(args, tmp_path / "daemon.log")


def _publish(client, values, start=0, topic="sensors/pump/vib"):
    for i, v in enumerate(values, start=start):
        client.publish(topic, json.dumps({"ts": T0 + i, "value": float(v)}), qos=1)


SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _validate_all(collector):
    """Every message the daemon published matches its JSON Schema."""
    jsonschema = pytest.importorskip("jsonschema")
    kinds = {"anomaly": "anomaly", "forecast": "forecast", "status": "status", "stats": "stats", "errors": "error"}
    checked = Counter()
    for topic, body in list(collector.messages):
        kind = topic.split("/")[2]
        schema = json.loads((SCHEMAS / f"{kinds[kind]}.schema.json").read_text())
        jsonschema.validate(body, schema)
        checked[kind] += 1
    return checked


def _samples(collector):
    stats = collector.latest("stats")
    return stats["samples"] if stats else 0


def test_end_to_end_events(tmp_path, bundle, broker):
    collector = Collector(broker.port)
    daemon = _daemon(tmp_path, bundle, broker)
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online"), daemon.output()
        x = series(400, spike_at=300)
        pub = publisher(broker.port)
        _publish(pub, x)
        assert collector.wait_for(lambda: _samples(collector) >= 400), daemon.output()
        incidents = {e["incident"] for e in collector.matching("anomaly") if e["stream"] == "pump/vib"}
        assert len(incidents) == 1, collector.matching("anomaly")
        opened = next(e for e in collector.matching("anomaly") if e["state"] == "open")
        assert abs(opened["start"] - (T0 + 300)) <= 1 and opened["value"] == pytest.approx(float(x[300]), abs=1e-4)
        assert {"expected", "residual", "score", "threshold", "severity"} <= set(opened)
        forecasts = [f for f in collector.matching("forecast") if f["stream"] == "pump/vib"]
        assert len(forecasts) == 400 // 25
        reference = edge_lstm.load(bundle, "numba-f32").run(x)
        for f in forecasts:
            k = round(f["ts"] - T0)
            assert f["values"][0] == pytest.approx(float(reference[k, 0]), abs=1e-5)
            assert f["lower"][0] <= f["values"][0] <= f["upper"][0]
            if f["calibrated"]:
                assert f["lower"][0] < f["values"][0] < f["upper"][0]
        # An interval is learned from the stream's own scored errors (anomaly.warmup of them): until then the event
        # says so (it used to claim a 95% band of zero width while the LSTM state settled).
        calibrated = [f["calibrated"] for f in forecasts]
        assert calibrated == sorted(calibrated) and not calibrated[0] and calibrated[-1]
        assert daemon.stop(signal.SIGTERM) == 0
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "offline")
        checked = _validate_all(collector)
        assert checked["anomaly"] == 2 and checked["forecast"] >= 16 and checked["stats"] and checked["status"] >= 2
        pub.loop_stop()
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()


def test_malformed_barrage_is_counted_and_survived(tmp_path, bundle, broker):
    collector = Collector(broker.port)
    daemon = _daemon(tmp_path, bundle, broker, "--set", "input.max_payload_bytes=4096")
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online")
        pub = publisher(broker.port)
        bad = [b'{"ts": 1, "val', b'{"ts": 1, "value": NaN}', b'{"ts": 1, "value": "high"}',
               b'{"value": 1, "pad": "' + b"x" * 10_000 + b'"}', b"\xff\xfe", b"", b"[]", b"1,2,3",
               b'{"ts": 1, "values": [1, 2]}', b"inf", b'{"ts": 1, "value": 1e39}', b"-3.5e38"]
        for i in range(200):
            pub.publish("sensors/pump/vib", bad[i % len(bad)], qos=1)
        _publish(pub, series(30))
        assert collector.wait_for(lambda: (collector.latest("stats") or {}).get("errors", 0) >= 200
                                  and _samples(collector) >= 30), daemon.output()
        assert collector.latest("stats")["errors"] == 200
        reasons = [e["reason"] for e in collector.matching("errors")]
        assert len(reasons) == 200 and any("NaN" in r for r in reasons) and any("exceeds" in r for r in reasons)
        assert any("beyond the float32 range" in r for r in reasons)  # (infinity for the model: it used to stop it)
        assert daemon.process.poll() is None, "the daemon must stay up"
        assert _validate_all(collector)["errors"] == 200
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()


def test_a_stream_beyond_the_limit_takes_the_place_of_the_least_recently_heard_from(tmp_path, bundle, broker):
    """A publisher minting a new stream id per message must not grow the daemon without bound, nor lock a real
    new device out (tests/serve/test_eviction.py)."""
    collector = Collector(broker.port)
    daemon = _daemon(tmp_path, bundle, broker, "--set", "input.max_streams=3")
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online")
        pub = publisher(broker.port)
        x = series(40)
        for k in range(3):
            _publish(pub, x, topic=f"sensors/pump{k}/vib")
        assert collector.wait_for(lambda: _samples(collector) >= 120), daemon.output()
        _publish(pub, x[:20], topic="sensors/pump1/vib", start=40)  # pump0 is now the least recently heard from
        for k in (3, 4):
            _publish(pub, x, topic=f"sensors/pump{k}/vib")
        assert collector.wait_for(lambda: _samples(collector) >= 220), daemon.output()
        time.sleep(1.0)
        stats = collector.latest("stats")
        assert stats["streams"] == 3 and stats["samples"] == 220 and stats["errors"] == 0 and stats["evicted"] == 2
        evicted = [line.rpartition("(input.max_streams): ")[2].split(", ") for line in daemon.output().splitlines()
                   if "the least recently heard from, to make room" in line]
        assert sorted(name for names in evicted for name in names) == ["pump0/vib", "pump2/vib"]  # pump1 was heard
        assert daemon.process.poll() is None
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()


def test_broker_restart_loses_no_sample(tmp_path, bundle, broker):
    collector = Collector(broker.port)
    daemon = _daemon(tmp_path, bundle, broker, "--set", "mqtt.reconnect_max_s=1")
    pub = publisher(broker.port)
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online")
        x = series(300)
        _publish(pub, x[:150])
        assert collector.wait_for(lambda: _samples(collector) >= 150), daemon.output()
        broker.stop()
        _publish(pub, x[150:250], start=150)  # queued by the publisher while the broker is down
        time.sleep(1.0)
        broker.start()
        collector.close()
        collector = Collector(broker.port)
        _publish(pub, x[250:], start=250)
        assert collector.wait_for(lambda: _samples(collector) >= 300, timeout=60), daemon.output()
        assert _samples(collector) == 300
        assert collector.latest("stats")["stale"] == 0
    finally:
        daemon.stop(signal.SIGKILL)
        pub.loop_stop()
        collector.close()


def test_sigkill_then_restart_resumes_from_checkpoint(tmp_path, bundle, broker):
    collector = Collector(broker.port)
    x = series(300)
    daemon = _daemon(tmp_path, bundle, broker)
    pub = publisher(broker.port)
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online")
        _publish(pub, x[:200])
        assert collector.wait_for(lambda: _samples(collector) >= 200)
        checkpoints = collector.latest("stats")["checkpoints"]
        assert collector.wait_for(lambda: collector.latest("stats")["checkpoints"] >= checkpoints + 2)
        daemon.stop(signal.SIGKILL)
        daemon = _daemon(tmp_path, bundle, broker)
        assert collector.wait_for(lambda: "restored 1 streams" in str(collector.latest("status"))), daemon.output()
        _publish(pub, x[200:], start=200)
        assert collector.wait_for(lambda: (collector.latest("stats") or {}).get("samples", 0) >= 300)
        reference = edge_lstm.load(bundle, "numba-f32").run(x)
        late = [f for f in collector.matching("forecast") if f["ts"] >= T0 + 200]
        assert late, "forecasts after the restart"
        for f in late:
            k = round(f["ts"] - T0)
            assert f["values"][0] == pytest.approx(float(reference[k, 0]), abs=1e-5), "state was restored"
    finally:
        daemon.stop(signal.SIGKILL)
        pub.loop_stop()
        collector.close()


def test_channels_on_separate_topics_feed_a_multi_feature_model(tmp_path, broker):
    from tests.support.bundles import lstm_model, write_random_bundle

    path = write_random_bundle(tmp_path / "three", lstm_model(features=3, units=(8,), outputs=1))
    collector = Collector(broker.port)
    daemon = DaemonProcess(["--bundle", str(path), "--broker", broker.url, "--node-id", "multi",
                            "--set", "input.stream={1}", "--set", "input.feature={2}",
                            "--set", "input.features=vib,temp,current", "--set", "forecast.every=1",
                            "--set", "stats.every_s=0.3"], tmp_path / "daemon.log")
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online"), daemon.output()
        pub = publisher(broker.port)
        rng = np.random.default_rng(0)
        rows = rng.normal(size=(30, 3))
        for i, (vib, temp, current) in enumerate(rows):
            # The clock channel (vib) last, so each vector is complete when it arrives.
            pub.publish("sensors/m1/temp", json.dumps({"ts": T0 + i, "value": temp}), qos=1)
            pub.publish("sensors/m1/current", json.dumps({"ts": T0 + i, "value": current}), qos=1)
            pub.publish("sensors/m1/vib", json.dumps({"ts": T0 + i + 0.01, "value": vib}), qos=1)
        assert collector.wait_for(lambda: _samples(collector) >= 30), daemon.output()
        reference = edge_lstm.load(path, "numpy").run(rows[:, [0, 1, 2]].astype(np.float32))
        forecasts = sorted(collector.matching("forecast"), key=lambda f: f["ts"])
        assert [f["stream"] for f in forecasts] == ["m1"] * 30
        np.testing.assert_allclose([f["values"][0] for f in forecasts], reference[:, 0], atol=1e-5)
        pub.loop_stop()
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()


def test_feature_list_must_match_the_model(tmp_path, bundle):
    result = subprocess.run([sys.executable, "-m", "edge_lstm", "serve", "--bundle", str(bundle),
                             "--set", "input.features=a,b"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "input.features: lists 2 channels but the model takes 1" in result.stderr


def test_prometheus_metrics(tmp_path, bundle, broker):
    import urllib.request

    from tests.support.mosquitto import free_port

    port = free_port()
    collector = Collector(broker.port)
    daemon = _daemon(tmp_path, bundle, broker, "--metrics-port", str(port))
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online")
        _publish(publisher(broker.port), series(20))
        assert collector.wait_for(lambda: _samples(collector) >= 20)
        time.sleep(0.6)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'edge_lstm{name="samples"} 20.0' in text and 'edge_lstm{name="streams"} 1.0' in text
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()


def test_load_changes_are_not_published_as_anomalies(tmp_path, bundle, broker):
    """anomaly.context end to end: three channels of one machine; load steps move all three, a fault
    moves pressure alone. Only the fault is published; the held events leave at SIGTERM too."""
    from tests.detect.test_operating import steps_and_a_fault

    collector = Collector(broker.port)
    daemon = _daemon(tmp_path, bundle, broker, "--set", "anomaly.context=current")
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online"), daemon.output()
        channels = steps_and_a_fault()
        pub = publisher(broker.port)
        n = len(next(iter(channels.values()))[0])
        for lo in range(0, n, 10):
            for name, (ts, values) in channels.items():
                chunk = zip(ts[lo : lo + 10], values[lo : lo + 10, 0], strict=True)
                batch = [{"ts": T0 + float(t), "value": float(v)} for t, v in chunk]
                pub.publish(f"sensors/{name}", json.dumps(batch), qos=1)
        assert collector.wait_for(lambda: _samples(collector) >= 3 * n, timeout=60), daemon.output()
        assert daemon.stop(signal.SIGTERM) == 0
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "offline")
        anomalies = collector.matching("anomaly")
        assert {e["stream"] for e in anomalies} == {"m/pressure"}, anomalies
        # The fault's onset; perhaps more of it, or its end (pressure stepping back alone); never a load step.
        assert any(abs(e["start"] - (T0 + 900)) <= 3 for e in anomalies), anomalies
        assert all(T0 + 897 <= e["start"] <= T0 + 1003 for e in anomalies), anomalies  # (within the fault)
        assert collector.latest("stats")["operating_changes"] >= 4
        _validate_all(collector)
        pub.loop_stop()
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()

