"""The daemon's worker and configuration without a broker: draining, failures, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

import edge_lstm
from edge_lstm.serve.config import ConfigError, engine_config, load_config
from edge_lstm.serve.payloads import Sample
from edge_lstm.stream.engine import Engine, EngineConfig
from tests.support.bundles import lstm_model, random_bundle, small_daemon


def test_config_defaults_and_overrides(tmp_path):
    (tmp_path / "b").mkdir()
    config = load_config(None, {"model.bundle": str(tmp_path / "b"), "anomaly.threshold": "4.5",
                                "input.subscribe": "a/+,b/#"})
    assert config["anomaly"]["threshold"] == 4.5 and config["input"]["subscribe"] == ["a/+", "b/#"]
    assert config["mqtt"]["protocol"] == "5" and config["mqtt"]["qos"] == 1
    with pytest.raises(ConfigError, match=r"mqtt\.broker: broker URL 'http://x'"):
        load_config(None, {"model.bundle": str(tmp_path / "b"), "mqtt.broker": "http://x"})
    with pytest.raises(ConfigError, match=r"mqtt\.reconnect_max_s: must not be below"):
        load_config(None, {"model.bundle": str(tmp_path / "b"), "mqtt.reconnect_max_s": "0.5"})
    with pytest.raises(ConfigError, match=r"anomaly\.pattern_length: must be a multiple of pattern_segment \(8\), "
                                          r"got 60"):
        load_config(None, {"model.bundle": str(tmp_path / "b"), "anomaly.pattern_length": "60"})
    with pytest.raises(ConfigError, match=r"anomaly\.level_window: must be zero or positive, got -1"):
        load_config(None, {"model.bundle": str(tmp_path / "b"), "anomaly.level_window": "-1"})
    with pytest.raises(ConfigError, match=r"input\.clock_reset: must be zero or positive, got -2"):
        load_config(None, {"model.bundle": str(tmp_path / "b"), "input.clock_reset": "-2"})
    assert engine_config(load_config(None, {"model.bundle": str(tmp_path / "b"), "input.clock_reset": "3"}),
                         0).clock_reset == 3


def test_difference_needs_a_scaling(tmp_path):
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    with pytest.raises(ValueError, match="standardise must be N > 0"):
        Engine(model, EngineConfig(difference=True))
    from edge_lstm.serve.config import engine_config

    (tmp_path / "b").mkdir()
    config = load_config(None, {"model.bundle": str(tmp_path / "b"), "input.standardise": "0"})
    with pytest.raises(ConfigError, match=r"input\.standardise: .*must not be 0"):
        engine_config(config, 120, bundle_difference=True)
    assert engine_config(config, 120).standardise == 0


def test_worker_drains_at_most_batch_bytes_but_always_one_message(tmp_path):
    daemon = small_daemon(tmp_path, **{"processing.batch_bytes": "100"})
    for size in (60, 60, 60, 500, 10):
        daemon.intake.queue.append(("sensors/a/b", b"x" * size, 0.0, 0, 0))
    drained = [len(daemon.intake.drain(0.0)) for _ in range(4)]
    assert drained == [2, 2, 1, 0]  # 60+60 reaches 100; 60+500; 10 alone; then empty
    assert not daemon.intake.queue


def test_a_sample_that_makes_the_engine_fail_is_reported_and_left_and_the_rest_go_on(tmp_path, monkeypatch):
    """A bug some input triggers must not stop the daemon (with QoS 1 the message would come back after the
    restart and stop it again): the batch is retried sample by sample, the failing one reported and left."""
    import json


    daemon = small_daemon(tmp_path)
    published = []
    monkeypatch.setattr(daemon.client, "publish", lambda topic, body, **_: published.append((topic, body)))
    process = daemon.engine.process

    def failing(samples):
        if any(s.values[0] == 666.0 for _, s in samples):
            if samples[0][1].values[0] != 666.0:
                process(samples[:1])  # part of the batch done before the failure: stale when retried
            raise ZeroDivisionError("a bug")
        return process(samples)

    monkeypatch.setattr(daemon.engine, "process", failing)
    items = [(f"sensors/d{k % 3}/v", json.dumps({"ts": 100 + k, "value": 666 if k == 7 else k}).encode(), 0.0, k, 0)
             for k in range(12)]
    daemon.process(items)
    assert daemon.counters["internal_errors"] == 1 and daemon.counters["errors"] == 1
    assert daemon.engine.counters["samples"] == 11  # all but the failing one, none twice
    [body] = [json.loads(b) for t, b in published if t.endswith("/errors")]
    assert body["topic"] == "sensors/d1/v" and "internal error" in body["reason"]
    assert "ZeroDivisionError: a bug" in body["reason"]
    assert daemon.stats()["internal_errors"] == 1


def test_a_checkpoint_that_reads_but_does_not_fit_starts_the_daemon_fresh(tmp_path):
    """A checkpoint file that unzips but lacks an array, or holds one of another shape, must not stop the daemon
    from starting (under systemd: restarting for ever)."""
    from edge_lstm.serve import checkpoint
    from edge_lstm.serve.daemon import Daemon
    from tests.support.bundles import write_random_bundle

    path = write_random_bundle(tmp_path / "b", lstm_model(1, (4,)))
    config = load_config(None, {"model.bundle": str(path), "state.checkpoint": str(tmp_path / "state.npz")})
    daemon = Daemon(config)
    for t in range(30):
        daemon.engine.process([("d/c", Sample(float(t), (np.sin(t),)))])
    daemon.save_checkpoint()
    arrays, meta = checkpoint.load(tmp_path / "state.npz")
    assert Daemon(config).restored == "restored 1 streams"
    bank = sorted(k for k in arrays if k.startswith("bank/"))
    wrong_shape = {**arrays, bank[0]: arrays[bank[0]][:, :1]}
    missing = {k: v for k, v in arrays.items() if k != bank[0]}
    for broken, why in ((wrong_shape, "ValueError"), (missing, "KeyError")):
        checkpoint.save(tmp_path / "state.npz", broken, meta)
        fresh = Daemon(config)
        assert fresh.restored.startswith(f"checkpoint did not fit ({why}") and fresh.engine.names == []
        fresh.engine.process([("d/c", Sample(100.0, (1.0,)))])
        assert fresh.engine.counters["samples"] == 1


def test_a_checkpoint_that_cannot_be_written_is_counted_and_the_daemon_goes_on(tmp_path, monkeypatch):
    """A full SD card or a read-only mount must not stop the daemon; the last good checkpoint stays."""
    from edge_lstm.serve import checkpoint
    from edge_lstm.serve.daemon import Daemon
    from tests.support.bundles import write_random_bundle

    path = write_random_bundle(tmp_path / "b", lstm_model(1, (4,)))
    daemon = Daemon(load_config(None, {"model.bundle": str(path), "state.checkpoint": str(tmp_path / "state.npz")}))
    daemon.engine.process([("d/c", Sample(1.0, (1.0,)))])
    daemon.save_checkpoint()
    good = (tmp_path / "state.npz").read_bytes()

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save", full)
    daemon.engine.process([("d/c", Sample(2.0, (1.0,)))])
    daemon.save_checkpoint()
    assert daemon.counters["checkpoints"] == 1 and daemon.stats()["checkpoint_errors"] == 1
    assert (tmp_path / "state.npz").read_bytes() == good


def test_a_refused_subscription_is_reported(tmp_path, monkeypatch):
    """A broker may answer a forbidden subscription with a failure code; the daemon would otherwise wait for
    samples that never come, saying nothing."""
    import json

    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode


    daemon = small_daemon(tmp_path)
    published = []
    monkeypatch.setattr(daemon.client, "publish", lambda topic, body, **_: published.append((topic, body)))
    daemon.subscribing.update({1: "sensors/+/+", 2: "plant/#"})
    daemon._on_subscribe(daemon.client, None, 1, [ReasonCode(PacketTypes.SUBACK, identifier=1)], None)
    daemon._on_subscribe(daemon.client, None, 2, [ReasonCode(PacketTypes.SUBACK, identifier=0x87)], None)
    errors = [json.loads(body) for topic, body in published if topic.endswith("/errors")]
    assert [(e["topic"], e["reason"]) for e in errors] == [
        ("plant/#", "the broker refused the subscription to 'plant/#': Not authorized")]
    assert daemon.subscribing == {}


def test_any_exception_a_message_raises_is_reported_and_the_message_acknowledged(tmp_path, monkeypatch):
    """Defence in depth: whatever a message makes the daemon raise while reading it, or processing its batch,
    is reported on .../errors and the message acknowledged (else QoS 1 brings it back after every restart)."""
    import json

    import edge_lstm.serve.daemon

    daemon = small_daemon(tmp_path)
    published, acked = [], []
    monkeypatch.setattr(daemon.client, "publish", lambda topic, body, **_: published.append((topic, body)))
    monkeypatch.setattr(daemon.client, "ack", lambda mid, qos: acked.append(mid))
    parse = edge_lstm.serve.daemon.parse

    def failing(payload, *args):
        if payload == b"boom":
            raise MemoryError("injected")
        return parse(payload, *args)

    monkeypatch.setattr(edge_lstm.serve.daemon, "parse", failing)
    items = [("sensors/a/v", json.dumps({"ts": 100 + k, "value": k}).encode(), 0.0, k + 1, 1) for k in range(5)]
    items.insert(2, ("sensors/a/v", b"boom", 0.0, 99, 1))
    daemon.process(items)
    assert sorted(acked) == [1, 2, 3, 4, 5, 99]
    assert daemon.engine.counters["samples"] == 5 and daemon.counters["internal_errors"] == 1
    [body] = [json.loads(b) for t, b in published if t.endswith("/errors")]
    assert "internal error reading the message: MemoryError: injected" in body["reason"]

    def broken(*_):  # a failure outside any one message (publishing, say): the batch is still acknowledged
        raise RuntimeError("injected too")

    monkeypatch.setattr(daemon, "_advance", broken)
    acked.clear()
    daemon.process([("sensors/a/v", b'{"ts": 200, "value": 1}', 0.0, 7, 1)])
    assert acked == [7] and daemon.counters["internal_errors"] == 2


def test_events_in_flight_stay_within_the_brokers_receive_maximum(tmp_path, monkeypatch):
    """paho kept 1,000 QoS 1 events in flight whatever the broker allowed (Mosquitto: 20 unless configured)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from edge_lstm.serve.daemon import MAX_INFLIGHT

    daemon = small_daemon(tmp_path)
    monkeypatch.setattr(daemon.client, "publish", lambda *a, **k: None)
    monkeypatch.setattr(daemon.client, "subscribe", lambda *a, **k: (0, 1))
    connack = Properties(PacketTypes.CONNACK)
    connack.ReceiveMaximum = 20
    flags = type("Flags", (), {"session_present": False})()
    daemon._on_connect(daemon.client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=0), connack)
    assert daemon.client._max_inflight_messages == 20 and daemon.stats()["connected"]
    daemon._on_connect(daemon.client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=0),
                       Properties(PacketTypes.CONNACK))  # (no Receive Maximum: the protocol's 65,535)
    assert daemon.client._max_inflight_messages == MAX_INFLIGHT
