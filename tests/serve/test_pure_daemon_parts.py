"""The daemon's pure parts: payload parsing, the detector, the engine, config validation."""

import numpy as np
import pytest

import edge_lstm
from edge_lstm.detect.detector import Detector, DetectorConfig
from edge_lstm.serve.config import ConfigError, engine_config, load_config
from edge_lstm.serve.payloads import PayloadError, Sample, parse
from edge_lstm.stream.engine import Engine, EngineConfig
from tests.support.bundles import lstm_model, random_bundle


@pytest.mark.parametrize(("payload", "expected"), [
    (b"3.5", [Sample(9.0, (3.5,))]),
    (b'{"ts": 100, "value": 2}', [Sample(100.0, (2.0,))]),
    (b'{"ts": 1700000000123, "value": 2}', [Sample(1700000000.123, (2.0,))]),
    (b'{"ts": "2024-01-01T00:00:01Z", "value": 2}', [Sample(1704067201.0, (2.0,))]),
    (b'{"value": 2, "seq": 4}', [Sample(9.0, (2.0,))]),
    (b'{"ts": "100", "value": "2.5"}', [Sample(100.0, (2.5,))]),  # numbers sent as strings
    (b'[{"ts": 1, "value": 1}, {"ts": 2, "value": 2}]', [Sample(1.0, (1.0,)), Sample(2.0, (2.0,))]),
    (b"5,1.25", [Sample(5.0, (1.25,))]),
    (b"2024-01-01 00:00:00,1.5\n2024-01-01 00:00:01,1.75", [Sample(1704067200.0, (1.5,)),
                                                            Sample(1704067201.0, (1.75,))]),
])
def test_accepted_payloads(payload, expected):
    assert parse(payload, arrival=9.0, features=1) == expected


def test_epoch_stamps_in_milli_micro_and_nanoseconds():
    """Firmware stamps in whatever unit its SDK uses; each unit's values since 1973 are told apart by size."""
    for stamp in (b"1700000000.25", b"1700000000250", b"1700000000250000", b"1700000000250000000"):
        [sample] = parse(b'{"ts": ' + stamp + b', "value": 1}', arrival=0.0, features=1)
        assert sample.ts == pytest.approx(1700000000.25, abs=1e-6)
        [sample] = parse(stamp + b",1", arrival=0.0, features=1)  # CSV
        assert sample.ts == pytest.approx(1700000000.25, abs=1e-6)


def test_values_payload_for_multi_feature_models():
    assert parse(b'{"ts": 1, "values": [1, 2, 3]}', 0.0, features=3) == [Sample(1.0, (1.0, 2.0, 3.0))]


@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"ts": 1, "val', "invalid JSON"),
    (b'{"ts": 1, "value": NaN}', "NaN"),
    (b'{"ts": 1, "value": Infinity}', "NaN and infinity"),
    (b"inf", "NaN and infinity"),
    # Finite, but infinity in the float32 the model computes in:
    (b'{"ts": 1, "value": 1e39}', "value is 1e+39: beyond the float32 range"),
    (b"-3.5e38", "beyond the float32 range"),
    (b'{"ts": 1, "value": 1' + b"0" * 400 + b"}", "an integer of 401 digits is beyond the float32 range"),
    # Each of these stopped the daemon (RecursionError; ValueError past Python's 4,300 digits):
    (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
    (b'{"value": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested too deeply"),
    (b'{"value": ' + b"[" * 500 + b"]" * 500 + b"}", "must be a number, got an array of 1 item(s)"),
    (b'{"ts": 1, "value": ' + b"7" * 4301 + b"}", "an integer of 4301 digits"),
    (b'{"ts": ' + b"7" * 4301 + b', "value": 1}', "an integer of 4301 digits"),
    (b'{"ts": 1, "value": "' + b"7" * 4301 + b'"}', "is beyond the float32 range"),
    (b'{"ts": "0001-01-01T00:00:00+01:00", "value": 1}', "before 1970"),
    (b'{"ts": 1, "value": "high"}', "must be a number, got str"),
    (b'{"ts": 1, "value": "NaN"}', "NaN and infinity"),
    (b'{"ts": 1, "value": true}', "must be a number, got bool"),
    (b'{"ts": 1}', "neither 'value' nor 'values'"),
    (b'{"ts": 1, "values": [1, 2]}', "2 value(s) per sample, the model expects 1"),
    (b'{"ts": "yesterday", "value": 1}', "neither epoch seconds nor ISO-8601"),
    (b"\xff\xfe", "not UTF-8"),
    (b"", "empty payload"),
    (b"[]", "empty JSON array"),
    (b'[{"ts": 1, "value": 1}, {"value": 2}]', "a batch needs each sample's ts"),
    (b"hello", "not a number, JSON or CSV"),
    (b"x" * 70_000, "exceeds the 65536-byte limit"),
    (b"1,2,3", "expected ts and 1 value"),
])
def test_rejected_payloads_say_why(payload, reason):
    with pytest.raises(PayloadError) as exc:
        parse(payload, arrival=0.0, features=1)
    assert reason in str(exc.value)


def test_detector_one_incident_per_burst_and_no_learning_from_it():
    d = Detector(DetectorConfig(warmup=50, threshold=5.0, quiet=5, mode="z"))
    idx = np.array([0, 1])
    rng = np.random.default_rng(0)
    opened = closed = 0
    for t in range(200):
        r = rng.normal(0, 0.1, 2)
        if 100 <= t < 110:
            r[0] += 5.0  # a burst of ten anomalous samples on stream 0
        out = d.update(idx, r, np.zeros(2), np.full(2, float(t)))
        opened += int(out.opened[0])
        closed += int(out.closed[0])
        assert not out.anomalous[1]
        if out.closed[0]:
            assert out.incident_start[0] == 100.0
    assert (opened, closed) == (1, 1)
    assert d.std(np.array([0]))[0] < 0.2, "the burst must not inflate the learned spread"


def test_novelty_ignores_a_recurring_error_and_flags_a_larger_one():
    """A forecast error the model makes every 100 samples is soon no news; a larger one is."""
    d = Detector(DetectorConfig(warmup=50, quiet=5, novelty_window=400, pattern_length=0, level_window=0))
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.1, 1000)
    r[np.arange(60, 1000, 100)] = 2.0  # the same error every 100 samples
    r[905] = 3.0  # one larger than any before
    starts = []
    for t, value in enumerate(r):
        out = d.update(np.array([0]), np.array([value]), np.zeros(1), np.array([float(t)]))
        if out.opened[0]:
            starts.append(t)
    # An incident raises the bar at most twofold: the recurring error is learned after a few occurrences.
    assert starts[0] == 60 and starts[-1] == 905
    assert all(t < 300 for t in starts[:-1]), f"the recurring error still raised incidents at {starts}"


def test_detector_is_deterministic():
    runs = []
    for _ in range(2):
        d = Detector(DetectorConfig(warmup=5))
        runs.append([d.update(np.array([0]), np.array([v]), np.array([0.1]), np.array([0.0])).score[0]
                     for v in np.sin(np.arange(500))])
    assert runs[0] == runs[1]


def test_engine_grows_orders_and_drops_stale():
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    engine = Engine(model, EngineConfig(forecast_every=0), capacity=2)
    items = [(f"s{i}", Sample(10.0, (0.5,))) for i in range(5)]
    engine.process(items)
    assert engine.capacity >= 5 and engine.counters["samples"] == 5
    engine.process([("s0", Sample(12.0, (1.0,))), ("s0", Sample(11.0, (1.0,))), ("s0", Sample(9.0, (1.0,))),
                    ("s0", Sample(12.0, (1.0,)))])
    assert engine.counters["stale"] == 2 and engine.counters["samples"] == 7
    expected = model.run(np.array([0.5, 1.0, 1.0], dtype=np.float32))[-1, 0]
    assert engine.forecast[engine.streams["s0"], 0] == pytest.approx(expected, abs=1e-6)


def test_engine_resets_a_stream_after_a_gap():
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    engine = Engine(model, EngineConfig(forecast_every=0, gap_s=60))
    engine.process([("a", Sample(0.0, (1.0,)))])
    engine.process([("a", Sample(1000.0, (2.0,)))])
    assert engine.counters["gap_resets"] == 1
    assert engine.forecast[0, 0] == pytest.approx(model.run(np.array([2.0], np.float32))[-1, 0], abs=1e-6)


def _fed(engine: Engine, stamps: list[float]) -> None:
    for k, t in enumerate(stamps):
        engine.process([("a", Sample(t, (np.sin(k),)))])


def test_one_bogus_future_stamp_does_not_silence_a_stream():
    """A sample stamped in year 9999 once: every later, correctly stamped sample is far behind it. They restart
    the stream (clock_reset in a row) and none is lost; without the rule, all of them were dropped as stale."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    t0 = 1.7e9
    stamps = [t0 + t for t in range(100)] + [253402214400.0] + [t0 + t for t in range(100, 400)]
    engine = Engine(model, EngineConfig(forecast_every=0, gap_s=60, clock_reset=5))
    _fed(engine, stamps)
    assert engine.counters["clock_resets"] == 1 and engine.counters["stale"] == 0
    assert engine.counters["samples"] == len(stamps)
    assert engine.last_ts[0] == t0 + 399
    # The state after it is the state of a stream started at the first sample after the bogus one.
    fresh = Engine(model, EngineConfig(forecast_every=0, gap_s=60))
    for k, t in enumerate(stamps[101:], start=101):
        fresh.process([("a", Sample(t, (np.sin(k),)))])
    assert engine.forecast[0, 0] == pytest.approx(fresh.forecast[0, 0], abs=1e-6)
    off = Engine(model, EngineConfig(forecast_every=0, gap_s=60, clock_reset=0))
    _fed(off, stamps)
    assert off.counters["stale"] == 300 and off.counters["samples"] == 101


def test_a_device_clock_reset_to_zero_restarts_the_stream_and_late_samples_stay_stale():
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    engine = Engine(model, EngineConfig(forecast_every=0, gap_s=60, clock_reset=3))
    # A late sample (within gap_s) and one far-past stamp among good ones are dropped: no restart.
    _fed(engine, [1000.0, 1001.0, 999.5, 1002.0, 5.0, 1003.0])
    assert engine.counters["stale"] == 2 and engine.counters["clock_resets"] == 0
    # The device reboots with its clock at 0: after 3 such samples the stream restarts from them.
    _fed(engine, [0.0, 1.0, 2.0, 3.0])
    assert engine.counters["clock_resets"] == 1 and engine.counters["stale"] == 2
    assert engine.last_ts[0] == 3.0 and engine.counters["samples"] == 4 + 4


def test_a_clock_reset_while_a_stream_gathers_its_scaling_starts_the_gathering_anew():
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    engine = Engine(model, EngineConfig(forecast_every=0, gap_s=60, clock_reset=3, standardise=20))
    _fed(engine, [1000.0 + t for t in range(10)])  # held: the scaling needs 20
    _fed(engine, [float(t) for t in range(30)])  # the device rebooted with its clock at 0
    assert engine.counters["clock_resets"] == 1
    assert engine.counters["stale"] == 10 and engine.counters["samples"] == 30


def test_engine_snapshot_restores_exactly():
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    a = Engine(model, EngineConfig(forecast_every=0))
    for t in range(30):
        a.process([(n, Sample(float(t), (np.sin(t + k),))) for k, n in enumerate(("x", "y", "z"))])
    b = Engine(model, EngineConfig(forecast_every=0), capacity=1)
    b.restore(*a.snapshot())
    for t in range(30, 40):
        items = [(n, Sample(float(t), (np.cos(t + k),))) for k, n in enumerate(("z", "x", "y"))]
        a.process(items)
        b.process(items)
    np.testing.assert_array_equal(a.forecast[:3], b.forecast[[b.streams[n] for n in a.names]])


def test_old_checkpoint_detector_statistics_are_not_taken_in_the_wrong_units():
    """Before the detector worked in model units its statistics were in the streams' units: restoring
    them into a standardising engine would misjudge every sample, so they are dropped (h and c kept)."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    config = EngineConfig(forecast_every=0, standardise=5)
    a = Engine(model, config)
    for t in range(60):
        a.process([("x", Sample(float(t), (100.0 + 10 * np.sin(t / 3),)))])
    arrays, meta = a.snapshot()
    assert Engine(model, config).restore(arrays, meta) is None
    del meta["detector_units"]  # as an older version wrote it
    b = Engine(model, config)
    note = b.restore(arrays, meta)
    assert note and "warms up again" in note
    assert b.detector.count[0] == 0 and a.detector.count[0] > 0
    for key, h in a._bank.state.items():
        np.testing.assert_array_equal(b._bank.state[key][0], h[0])
    plain = EngineConfig(forecast_every=0)  # no standardising: the units never differed, statistics are kept
    c = Engine(model, plain)
    for t in range(60):
        c.process([("x", Sample(float(t), (np.sin(t / 3),)))])
    arrays, meta = c.snapshot()
    del meta["detector_units"]
    d = Engine(model, plain)
    assert d.restore(arrays, meta) is None
    assert d.detector.count[0] == c.detector.count[0] > 0


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


@pytest.mark.parametrize("batch", [1, 3, 50, 400])
def test_engine_gives_the_same_events_however_samples_are_batched(batch):
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    config = EngineConfig(forecast_every=7, gap_s=30, detector=DetectorConfig(warmup=20, threshold=4.0, quiet=3))
    x = np.sin(np.arange(400) / 7.0)
    x[150] += 6.0
    ts = np.arange(400.0)
    ts[300:] += 100  # a silence longer than gap_s: the stream starts over
    reference = Engine(model, config)
    expected = [e for t in range(400) for e in reference.process([("s", Sample(ts[t], (x[t],)))])]
    engine = Engine(model, config)
    got = [e for i in range(0, 400, batch)
           for e in engine.process([("s", Sample(ts[t], (x[t],))) for t in range(i, min(i + batch, 400))])]
    assert [(e.kind, e.body.get("state"), e.body["ts"]) for e in got] == [
        (e.kind, e.body.get("state"), e.body["ts"]) for e in expected]
    for a, b in zip(got, expected, strict=True):
        for key in ("values", "z", "expected"):
            if key in a.body:
                assert a.body[key] == pytest.approx(b.body[key], rel=1e-5, abs=1e-6)
        assert a.body.get("forecaster") == b.body.get("forecaster")
    assert engine.counters["gap_resets"] == reference.counters["gap_resets"] == 1
    assert any(e.kind == "anomaly" for e in got)
    # (This random model forecasts a sine worse than its last value: both forecasters take turns.)
    assert {e.body.get("forecaster") for e in got if e.kind == "forecast"} == {"model", "last_value"}


def test_bank_advance_equals_steps():
    model = edge_lstm.load(random_bundle(), "numba-f32")
    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    a, b = model.streams(3), model.streams(3)
    stepped = np.stack([a.step(x[t : t + 1], streams=[1])[0] for t in range(20)])
    np.testing.assert_allclose(b.advance(1, x), stepped, atol=1e-6)
    for key in a.state:
        np.testing.assert_allclose(a.state[key], b.state[key], atol=1e-6)


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_standardise_holds_the_first_samples_then_streams_them_scaled(batch):
    """standardise=N: the model sees (x - mean) / std of the stream's first N samples, from its first sample;
    forecasts come back in the stream's units; a checkpoint taken while warming keeps the held samples."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    config = EngineConfig(forecast_every=1, standardise=40, fallback=0)  # the model's own forecasts
    x = 50.0 + 3.0 * np.sin(np.arange(300) / 5.0)
    engine = Engine(model, config)
    events = []
    for i in range(0, 300, batch):
        items = [("s", Sample(float(t), (x[t],))) for t in range(i, min(i + batch, 300))]
        if batch == 1 and i == 21:  # mid-warm-up: carry on from a checkpoint
            restored = Engine(model, config)
            restored.restore(*engine.snapshot())
            engine = restored
        events += engine.process(items)
    forecasts = [e.body["values"][0] for e in events if e.kind == "forecast"]
    head = x[:40]
    scaled = ((x - head.mean()) / head.std()).astype(np.float32)
    expected = model.run(scaled[:, None])[:, 0] * np.float32(head.std()) + np.float32(head.mean())
    assert len(forecasts) == 300
    np.testing.assert_allclose(forecasts, expected, rtol=1e-5)
    assert engine.counters["samples"] == 300


def test_worker_drains_at_most_batch_bytes_but_always_one_message(tmp_path):
    from edge_lstm.serve.daemon import Daemon
    from tests.support.bundles import write_random_bundle

    path = write_random_bundle(tmp_path / "b", lstm_model(1, (4,)))
    config = load_config(None, {"model.bundle": str(path), "processing.batch_bytes": "100"})
    daemon = Daemon(config)
    for size in (60, 60, 60, 500, 10):
        daemon.queue.append(("sensors/a/b", b"x" * size, 0.0, 0, 0))
    drained = [len(daemon._drain(0.0)) for _ in range(4)]
    assert drained == [2, 2, 1, 0]  # 60+60 reaches 100; 60+500; 10 alone; then empty
    assert not daemon.queue


def test_a_sample_that_makes_the_engine_fail_is_reported_and_left_and_the_rest_go_on(tmp_path, monkeypatch):
    """A bug some input triggers must not stop the daemon (with QoS 1 the message would come back after the
    restart and stop it again): the batch is retried sample by sample, the failing one reported and left."""
    import json

    from edge_lstm.serve.daemon import Daemon
    from tests.support.bundles import write_random_bundle

    daemon = Daemon(load_config(None, {"model.bundle": str(write_random_bundle(tmp_path / "b", lstm_model(1, (4,))))}))
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

    from edge_lstm.serve.daemon import Daemon
    from tests.support.bundles import write_random_bundle

    daemon = Daemon(load_config(None, {"model.bundle": str(write_random_bundle(tmp_path / "b", lstm_model(1, (4,))))}))
    published = []
    monkeypatch.setattr(daemon.client, "publish", lambda topic, body, **_: published.append((topic, body)))
    daemon.subscribing.update({1: "sensors/+/+", 2: "plant/#"})
    daemon._on_subscribe(daemon.client, None, 1, [ReasonCode(PacketTypes.SUBACK, identifier=1)], None)
    daemon._on_subscribe(daemon.client, None, 2, [ReasonCode(PacketTypes.SUBACK, identifier=0x87)], None)
    errors = [json.loads(body) for topic, body in published if topic.endswith("/errors")]
    assert [(e["topic"], e["reason"]) for e in errors] == [
        ("plant/#", "the broker refused the subscription to 'plant/#': Not authorized")]
    assert daemon.subscribing == {}


def test_a_checkpoint_from_another_seasonal_or_pattern_memory_size_restores_the_rest():
    """A view's memory sized by the configuration (pattern, seasonal) that changed between runs warms up again;
    the other statistics are kept and the engine does not fail on the shapes."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    a = Engine(model, EngineConfig(forecast_every=0, detector=DetectorConfig(seasonal_days=1)))
    for t in range(80):
        a.process([("x", Sample(60.0 * t, (np.sin(t / 3),)))])
    changed = DetectorConfig(seasonal_days=2, pattern_length=32, pattern_memory=600)
    b = Engine(model, EngineConfig(forecast_every=0, detector=changed))
    assert b.restore(*a.snapshot()) is None
    assert b.detector.count[0] == a.detector.count[0] > 0
    assert b.detector.season_bin[0].max() == -1 and a.detector.season_bin[0].max() >= 0
    assert b.detector.seen[0] == a.detector.seen[0]  # same shape: kept
    b.process([("x", Sample(60.0 * 80, (0.5,)))])
    assert b.detector.count[0] == a.detector.count[0] + 1


@pytest.mark.parametrize("batch", [1, 8])
def test_a_value_that_overflows_once_scaled_is_dropped_not_fatal(batch):
    """A stream scaled by a tiny spread turns a large (float32-finite) value into infinity for the model: the
    kernel would refuse the whole batch. The engine drops that sample, counts it, and goes on with the rest
    (``batch`` 1: rounds shared with another stream; 8: one kernel call per stream)."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    config = EngineConfig(forecast_every=1, standardise=5)
    values = [1.0, 1.0, 1.0, 1.0, 1.000001] + [1.0 + 1e-6 * np.sin(t) for t in range(40)]  # a spread of 4e-7
    clean = [Sample(float(t), (v,)) for t, v in enumerate(values)]
    spoiled = [*clean[:20], Sample(19.5, (1e33,)), *clean[20:]]
    engines = []
    for stream in (clean, spoiled):
        engine = Engine(model, config)
        for i in range(0, len(stream), batch):
            chunk = stream[i:i + batch]
            engine.process([("s", s) for s in chunk] + [("other", s) for s in chunk if s.values[0] < 1e30])
        engines.append(engine)
    reference, engine = engines
    assert engine.counters["non_finite"] == 1 and reference.counters["non_finite"] == 0
    for name in ("s", "other"):  # as if the sample had never come
        a, b = reference.streams[name], engine.streams[name]
        np.testing.assert_allclose(engine.forecast[b], reference.forecast[a], rtol=1e-6)
        for key, state in reference._bank.state.items():
            np.testing.assert_allclose(engine._bank.state[key][b], state[a], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_difference_feeds_the_changes_and_forecasts_from_the_last_value(batch):
    """difference: the model sees each sample's change over the spread of the changes in the first N samples,
    and its output is the change ahead: forecast = the sample + output x that spread. The same however the
    samples are batched; a silence (gap_s) starts the changes over."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    config = EngineConfig(forecast_every=1, standardise=40, difference=True, fallback=0, gap_s=30)
    rng = np.random.default_rng(2)
    x = 100.0 + np.repeat([0.0, 8.0, -5.0], 100) + rng.normal(0, 0.5, 300)
    ts = np.arange(300.0)
    ts[200:] += 100  # a silence: the stream starts over at sample 200
    engine = Engine(model, config)
    events = []
    for i in range(0, 300, batch):
        events += engine.process([("s", Sample(ts[t], (x[t],))) for t in range(i, min(i + batch, 300))])
    forecasts = {e.body["ts"]: e.body["values"][0] for e in events if e.kind == "forecast"}
    assert len(forecasts) == 300
    head = x[:40]
    scale = np.float32(np.sqrt(np.mean(np.diff(head) ** 2)))
    for part in (slice(0, 200), slice(200, 300)):
        seen = np.diff(x[part], prepend=x[part][0]) / scale  # the first of each part: no change
        out = model.run(seen.astype(np.float32)[:, None])[:, 0]
        want = x[part].astype(np.float32) + out * scale
        got = [forecasts[t] for t in ts[part]]
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert engine.offset[0, 0] == 0.0 and engine.scale[0, 0] == pytest.approx(scale)


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


def test_a_differencing_engine_resumes_from_a_checkpoint_exactly():
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    config = EngineConfig(forecast_every=1, standardise=20, difference=True)
    x = 10.0 + np.cumsum(np.random.default_rng(4).normal(size=120))
    whole, first = Engine(model, config), Engine(model, config)
    expected = [e for t in range(120) for e in whole.process([("s", Sample(float(t), (x[t],)))])]
    got = [e for t in range(70) for e in first.process([("s", Sample(float(t), (x[t],)))])]
    resumed = Engine(model, config)
    resumed.restore(*first.snapshot())
    got += [e for t in range(70, 120) for e in resumed.process([("s", Sample(float(t), (x[t],)))])]
    assert [(e.kind, e.body["ts"]) for e in got] == [(e.kind, e.body["ts"]) for e in expected]
    for a, b in zip(got, expected, strict=True):
        if a.kind == "forecast":
            assert a.body["values"] == pytest.approx(b.body["values"], rel=1e-6)


def test_any_exception_a_message_raises_is_reported_and_the_message_acknowledged(tmp_path, monkeypatch):
    """Defence in depth: whatever a message makes the daemon raise while reading it, or processing its batch,
    is reported on .../errors and the message acknowledged (else QoS 1 brings it back after every restart)."""
    import json

    import edge_lstm.serve.daemon
    from edge_lstm.serve.daemon import Daemon
    from tests.support.bundles import write_random_bundle

    daemon = Daemon(load_config(None, {"model.bundle": str(write_random_bundle(tmp_path / "b", lstm_model(1, (4,))))}))
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
