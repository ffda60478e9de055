"""Evicting streams: everywhere a stream holds a row, the others left exactly as they were; the daemon's
stream limit takes the least recently heard from instead of locking new devices out."""

import json
import signal
import time
from dataclasses import replace

import numpy as np
import pytest

import edge_lstm
from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.operating import OperatingConfig
from edge_lstm.detect.relations import RelationConfig
from edge_lstm.serve.payloads import PayloadError, Sample
from edge_lstm.serve.registry import Registry
from edge_lstm.serve.wire import event_body
from edge_lstm.stream.engine import Engine, EngineConfig
from tests.support.bundles import lstm_model, random_bundle

CONFIG = EngineConfig(forecast_every=5, standardise=20, gap_s=600.0, detector=replace(DetectorConfig(), warmup=10))


def _feed(engine, names, steps, start=0):
    events = []
    for t in range(start, start + steps):
        batch = [(n, Sample(float(t), (np.sin(t / 4 + ord(n[0])) + (3.0 if t % 37 == 0 else 0.0),)))
                 for n in names if not (n == "d/x" and t < start + steps - 8)]
        events += engine.process(batch)
    return events


def _bodies(events):
    return [(e.kind, e.stream, {k: v for k, v in event_body(e).items() if k != "interval"}) for e in events]


def test_an_evicted_stream_leaves_the_others_exactly_as_if_it_had_never_been_there():
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    evicting, never = Engine(model, CONFIG, capacity=2), Engine(model, CONFIG, capacity=2)
    _feed(evicting, ["a/x", "b/x", "c/x", "d/x"], 60)  # d/x is still gathering its scaling (held samples)
    _feed(never, ["a/x", "c/x", "d/x"], 60)
    assert evicting.evict(["b/x", "nobody/x"]) == []
    assert evicting.names == ["a/x", "c/x", "d/x"] and evicting.counters["evicted"] == 1
    after = _feed(evicting, ["a/x", "c/x", "d/x"], 80, start=60)
    assert after and _bodies(after) == _bodies(_feed(never, ["a/x", "c/x", "d/x"], 80, start=60))
    (ours, meta), (theirs, their_meta) = evicting.snapshot(), never.snapshot()
    assert meta["streams"] == their_meta["streams"] and ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    _feed(evicting, ["b/x"], 30, start=140)  # back: a new stream, warming up afresh
    assert evicting.names[-1] == "b/x" and evicting.seen[3] == 30  # (not 90: its 60 before are forgotten)


def test_eviction_reaches_the_relations_and_operating_state_of_a_device():
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    engine = Engine(model, replace(CONFIG, standardise=0, detector=replace(DetectorConfig(), warmup=10),
                                   operating=OperatingConfig("current"), relation=RelationConfig(block=4, span=4)))
    channels = ["m/current", "m/vibration", "m/pressure", "n/current"]
    _feed(engine, channels, 200)
    assert engine.relations.devices["m"].sxy.shape == (3, 3)
    engine.evict(["m/vibration"])
    device = engine.relations.devices["m"]
    assert device.channels == ["current", "pressure"] and device.sxy.shape == (2, 2) and device.means.shape[1] == 2
    assert engine.operating.channels["m"] == {"current", "pressure"}
    _feed(engine, ["m/current", "m/pressure", "n/current"], 100, start=200)
    engine.evict(["m/current", "m/pressure"])
    assert "m" not in engine.relations.devices and "m" not in engine.operating.channels
    assert engine.device_rows.keys() == {"n"} and engine.names == ["n/current"]
    restored = Engine(model, engine.config)
    restored.restore(*engine.snapshot())
    assert restored.names == ["n/current"] and list(restored.relations.devices) == ["n"]


def test_the_registry_makes_room_from_the_least_recently_heard_from():
    streams = Registry(limit=3)
    streams.begin_pass()
    for t, name in enumerate(["a", "b", "c"]):
        streams.admit(name, float(t))
    streams.begin_pass()
    streams.admit("a", 10.0)  # a heard from again: b is now the least recent
    streams.admit("new", 11.0)
    assert streams.leaving == ["b"]
    streams.forget(streams.leaving)
    streams.begin_pass()
    for name in ("a", "c", "new"):
        streams.admit(name, 20.0)
    with pytest.raises(PayloadError, match="every one of them heard from in this pass"):
        streams.admit("one-too-many", 20.0)
    assert streams.idle(before=15.0) == [] and streams.idle(before=21.0) == ["a", "c", "new"]
    copy = Registry(3)
    copy.load_state(streams.state(), ["a", "c", "new", "unrecorded"], now=5.0)
    assert list(copy.last) == ["unrecorded", "a", "c", "new"]


def test_junk_ids_cannot_lock_a_new_device_out_and_idle_streams_leave(tmp_path, forecaster):
    """15,000 distinct ids used to fill input.max_streams for good (and the checkpoint, 39 MB): every new id
    refused, a real new device too, after a restart as well."""
    from tests.serve.test_daemon import T0, _daemon, series
    from tests.support.mosquitto import Mosquitto
    from tests.support.mqtt import Collector, DaemonProcess, publisher

    broker = Mosquitto(tmp_path / "broker").start()
    collector = Collector(broker.port)
    limits = ("--set", "input.max_streams=50", "--set", "input.evict_after_s=4")
    daemon = _daemon(tmp_path, forecaster, broker, *limits)
    pub = publisher(broker.port)
    stats = lambda: collector.latest("stats") or {}  # noqa: E731
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online")
        for half in (range(100), range(100, 200)):  # (the second half finds 50 streams heard from earlier)
            for k in half:
                pub.publish(f"sensors/junk{k}/x", json.dumps({"ts": T0, "value": 1.0}), qos=1)
            assert collector.wait_for(lambda h=half: stats().get("messages", 0) >= h[-1] + 1), daemon.output()
        time.sleep(0.6)
        # Each took the place of an older one, or (when all 50 were heard from in the same pass) was refused;
        # the second half's first 50 at least found streams of an earlier pass to take the place of
        assert stats()["streams"] == 50 and stats()["evicted"] + stats()["errors"] == 150 and stats()["evicted"] >= 50
        x = series(60)
        for i, v in enumerate(x):  # a real new device
            pub.publish("sensors/pump/vib", json.dumps({"ts": T0 + i, "value": float(v)}), qos=1)
            if i == 30:
                time.sleep(3.0)
        assert collector.wait_for(lambda: stats().get("samples", 0) >= 260 - stats()["errors"]), daemon.output()
        assert collector.wait_for(lambda: stats().get("streams") == 1, 20), stats()  # the junk went idle
        assert daemon.stop(signal.SIGTERM) == 0
        assert "evicted" in daemon.output() and "input.evict_after_s" in daemon.output()
        daemon = DaemonProcess(daemon.process.args[4:], tmp_path / "daemon2.log")
        assert collector.wait_for(lambda: "restored 1 streams" in str(collector.latest("status"))), daemon.output()
    finally:
        daemon.stop(signal.SIGKILL)
        pub.loop_stop()
        collector.close()
        broker.stop()


def test_a_checkpoint_with_more_streams_than_the_limit_keeps_the_most_recently_heard_from(tmp_path):
    from tests.support.bundles import small_daemon

    checkpoint = {"state.checkpoint": str(tmp_path / "state.npz")}
    daemon = small_daemon(tmp_path, **checkpoint)
    daemon.client.publish = lambda *a, **k: None
    daemon.process([(f"sensors/d{k}/v", json.dumps({"ts": 100.0, "value": 1.0}).encode(), 1000.0 + k, 0, 0)
                    for k in range(5)])
    daemon.save_checkpoint()
    fewer = small_daemon(tmp_path, **checkpoint, **{"input.max_streams": "3"})
    assert fewer.engine.names == ["d2/v", "d3/v", "d4/v"] and list(fewer.registry.last) == fewer.engine.names
