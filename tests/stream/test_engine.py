"""The engine: ordering, gaps, clocks, batching, scaling, differencing, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

import edge_lstm
from edge_lstm.detect.config import DetectorConfig
from edge_lstm.serve.payloads import Sample
from edge_lstm.serve.wire import event_body
from edge_lstm.stream.engine import Engine, EngineConfig
from tests.support.bundles import lstm_model, random_bundle


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


def test_engine_restarts_a_stream_after_a_silence_only_when_asked():
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    engine = Engine(model, EngineConfig(forecast_every=0, restart_after_s=60))
    engine.process([("a", Sample(0.0, (1.0,)))])
    engine.process([("a", Sample(1000.0, (2.0,)))])
    assert engine.counters["gap_resets"] == 1
    assert engine.forecast[0, 0] == pytest.approx(model.run(np.array([2.0], np.float32))[-1, 0], abs=1e-6)
    # By default a silence restarts nothing: the state runs on and the detector keeps what it learned.
    kept = Engine(model, EngineConfig(forecast_every=0, fallback=0))
    for t in range(200):
        kept.process([("a", Sample(float(t), (np.sin(t / 5.0),)))])
    learned = kept.detector.count[0]
    kept.process([("a", Sample(100_000.0, (2.0,)))])
    assert kept.counters["gap_resets"] == 0 and kept.detector.count[0] >= learned
    want = model.run(np.concatenate([np.sin(np.arange(200) / 5.0), [2.0]]).astype(np.float32)[:, None])[-1, 0]
    assert kept.forecast[0, 0] == pytest.approx(want, abs=1e-5)


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


def test_a_checkpoint_missing_part_of_the_long_pattern_stage_starts_that_stage_again():
    """The long stage's values, clock and whole-memory bar only make sense together (its sums per lag are summed
    again from the values, not checkpointed): an older checkpoint (without the values or that bar) or one written
    with another ``pattern_long_memory`` leaves the stage empty, not half restored."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    config = EngineConfig(forecast_every=0, detector=DetectorConfig(pattern_long_memory=200))
    a = Engine(model, config)
    for t in range(400):
        a.process([("x", Sample(float(t), (np.sin(t / 3),)))])
    arrays, meta = a.snapshot()
    b = Engine(model, config)
    assert b.restore(arrays, meta) is None
    assert b.detector.long_seen[0] == a.detector.long_seen[0] > 200
    assert "detector/lags" not in arrays
    np.testing.assert_allclose(b.detector.lags[0, 64:], a.detector.lags[0, 64:], rtol=1e-12, atol=1e-12)  # (0: scratch)
    assert b.detector.lags[0].any()
    np.testing.assert_array_equal(b.detector.whole_blocks[0], a.detector.whole_blocks[0])
    assert a.detector.whole_blocks[0].any()  # its bar from distances searched over a whole memory
    without_whole = {k: v for k, v in arrays.items() if k != "detector/whole_blocks"}  # as a version before that bar
    w = Engine(model, config)
    w.restore(without_whole, meta)
    assert w.detector.long_seen[0] == 0 and not w.detector.values[0].any()
    del arrays["detector/values"]  # as a version before the long stage wrote it
    c = Engine(model, config)
    c.restore(arrays, meta)
    assert c.detector.long_seen[0] == 0 and not c.detector.values[0].any() and not c.detector.whole_blocks[0].any()
    assert c.detector.seen[0] == a.detector.seen[0], "the rest of the pattern view is restored"
    arrays, meta = a.snapshot()
    other = Engine(model, EngineConfig(forecast_every=0, detector=DetectorConfig(pattern_long_memory=400)))
    other.restore(arrays, meta)
    assert other.detector.long_seen[0] == 0


@pytest.mark.parametrize("batch", [1, 3, 50, 400])
def test_engine_gives_the_same_events_however_samples_are_batched(batch):
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    config = EngineConfig(forecast_every=7, restart_after_s=30,
                          detector=DetectorConfig(warmup=20, threshold=4.0, quiet=3))
    x = np.sin(np.arange(400) / 7.0)
    x[150] += 6.0
    ts = np.arange(400.0)
    ts[300:] += 100  # a silence longer than restart_after_s: the stream starts over
    reference = Engine(model, config)
    expected = [e for t in range(400) for e in reference.process([("s", Sample(ts[t], (x[t],)))])]
    engine = Engine(model, config)
    got = [e for i in range(0, 400, batch)
           for e in engine.process([("s", Sample(ts[t], (x[t],))) for t in range(i, min(i + batch, 400))])]
    assert [(e.kind, event_body(e).get("state"), event_body(e)["ts"]) for e in got] == [
        (e.kind, event_body(e).get("state"), event_body(e)["ts"]) for e in expected]
    for a, b in zip(got, expected, strict=True):
        for key in ("values", "z", "expected"):
            if key in event_body(a):
                assert event_body(a)[key] == pytest.approx(event_body(b)[key], rel=1e-5, abs=1e-6)
        assert event_body(a).get("forecaster") == event_body(b).get("forecaster")
    assert engine.counters["gap_resets"] == reference.counters["gap_resets"] == 1
    assert any(e.kind == "anomaly" for e in got)
    # (This random model forecasts a sine worse than its last value: both forecasters take turns.)
    assert {event_body(e).get("forecaster") for e in got if e.kind == "forecast"} == {"model", "last_value"}


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
    forecasts = [event_body(e)["values"][0] for e in events if e.kind == "forecast"]
    head = x[:40]
    scaled = ((x - head.mean()) / head.std()).astype(np.float32)
    expected = model.run(scaled[:, None])[:, 0] * np.float32(head.std()) + np.float32(head.mean())
    assert len(forecasts) == 300
    np.testing.assert_allclose(forecasts, expected, rtol=1e-5)
    assert engine.counters["samples"] == 300


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
    samples are batched; a silence (restart_after_s) starts the changes over."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    config = EngineConfig(forecast_every=1, standardise=40, difference=True, fallback=0, restart_after_s=30)
    rng = np.random.default_rng(2)
    x = 100.0 + np.repeat([0.0, 8.0, -5.0], 100) + rng.normal(0, 0.5, 300)
    ts = np.arange(300.0)
    ts[200:] += 100  # a silence: the stream starts over at sample 200
    engine = Engine(model, config)
    events = []
    for i in range(0, 300, batch):
        events += engine.process([("s", Sample(ts[t], (x[t],))) for t in range(i, min(i + batch, 300))])
    forecasts = {event_body(e)["ts"]: event_body(e)["values"][0] for e in events if e.kind == "forecast"}
    assert len(forecasts) == 300
    head = x[:40]
    scale = np.float32(np.sqrt(np.mean(np.diff(head) ** 2)))
    for part in (slice(0, 200), slice(200, 300)):
        seen = np.diff(x[part], prepend=x[part][0]) / scale  # the first of each part: no change
        out = model.run(seen.astype(np.float32)[:, None])[:, 0]
        want = x[part].astype(np.float32) + out * scale
        got = [forecasts[t] for t in ts[part]]
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert engine.scaling.offset[0, 0] == 0.0 and engine.scaling.scale[0, 0] == pytest.approx(scale)


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
    assert [(e.kind, event_body(e)["ts"]) for e in got] == [(e.kind, event_body(e)["ts"]) for e in expected]
    for a, b in zip(got, expected, strict=True):
        if a.kind == "forecast":
            assert event_body(a)["values"] == pytest.approx(event_body(b)["values"], rel=1e-6)


def test_an_incident_says_every_view_that_fired_while_it_was_open():
    """One view may open an incident and the sample that closes it be judged by another: the events list the views
    that found its samples anomalous (issue 20: an incident opened by one view and closed by another confused)."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    engine = Engine(model, EngineConfig(forecast_every=0, settle=0, detector=DetectorConfig(warmup=60)))
    x = np.sin(np.arange(600) / 5)
    x[300:310] += 5.0  # a burst: the forecast view
    x[400:440] = x[399]  # a stuck sensor: the stuck view
    events = engine.process([("a/b", Sample(float(t), (x[t],))) for t in range(600)])
    incidents = {}
    for e in events:
        incidents.setdefault(event_body(e)["incident"], []).append(event_body(e))
    views = [[(b["state"], b["views"]) for b in bodies] for bodies in incidents.values()]
    assert views[0][0] == ("open", ["forecast"]) and "forecast" in views[0][1][1]
    assert ("open", ["stuck"]) in [v[0] for v in views]
    assert all(set(b["views"]) >= {b["view"]} for bodies in incidents.values() for b in bodies if b["state"] == "open")
