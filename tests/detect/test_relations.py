"""The relation view: a channel whose changes no other channel of its device explains."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

import edge_lstm
from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.operating import OperatingConfig
from edge_lstm.detect.relations import RelationConfig, Relations
from edge_lstm.stream.engine import Engine, EngineConfig
from edge_lstm.stream.sample import Sample

CONFIG = RelationConfig(block=8, span=8, warmup=8)


def machine(n: int = 2400, drift_at: int | None = None, shift_at: int | None = None, seed: int = 0
            ) -> dict[str, np.ndarray]:
    """A motor at 1 Hz: load steps every 150 s move current, vibration and temperature together (temperature
    lags nothing here); optionally temperature's sensor drifts from ``drift_at`` on, or the current's sensor
    reads 3 A high from ``shift_at`` for 300 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    load = 0.5 + 0.3 * rng.uniform(size=n // 150 + 1)[(t // 150).astype(int)]
    channels = {"current": 0.5 + 17.5 * load, "vibration": 0.3 + 3.7 * load, "temp": 25 + 24 * load + 16}
    if drift_at is not None:
        channels["temp"] = channels["temp"] + np.where(t >= drift_at, 0.02 * (t - drift_at), 0.0)
    if shift_at is not None:
        channels["current"] = channels["current"] + np.where((t >= shift_at) & (t < shift_at + 300), 3.0, 0.0)
    noise = {"current": 0.12, "vibration": 0.08, "temp": 0.15}
    return {name: v + noise[name] * rng.standard_normal(n) for name, v in channels.items()}


def ratios(channels: dict[str, np.ndarray], config: RelationConfig = CONFIG, relations: Relations | None = None,
           start: int = 0) -> dict[str, np.ndarray]:
    rel = relations or Relations(config, "current")
    n = len(next(iter(channels.values())))
    out = {name: np.zeros(n) for name in channels}
    for i in range(start, n):
        for name, values in channels.items():
            out[name][i] = rel.observe("m", name, float(i), float(values[i]))
    return out


def blamed(r: dict[str, np.ndarray], after: int = 0) -> set[str]:
    return {name for name, v in r.items() if (v[after:] > 1.0).any()}


def test_load_steps_are_explained():
    assert blamed(ratios(machine())) == set()


def test_a_drifting_sensor_is_blamed_alone_soon_after_it_starts():
    r = ratios(machine(drift_at=1600))
    assert blamed(r) == {"temp"}
    first = int(np.flatnonzero(r["temp"] > 1.0)[0])
    assert 1600 < first <= 1600 + 3 * 8 * 8, first  # within three spans of the drift's start


def test_a_faulty_context_sensor_is_blamed_not_the_channels_that_still_agree():
    r = ratios(machine(shift_at=1500))
    assert blamed(r) == {"current"}


def test_no_look_ahead_the_future_does_not_change_past_ratios():
    calm, drifting = ratios(machine(drift_at=2000)), ratios(machine(drift_at=1600))
    for name in calm:
        assert np.array_equal(calm[name][:1600], drifting[name][:1600])


def test_a_checkpoint_round_trip_continues_identically():
    data = machine(drift_at=1600)
    whole = ratios(data)
    first = Relations(CONFIG, "current")
    ratios({k: v[:1000] for k, v in data.items()}, relations=first)
    restored = Relations(CONFIG, "current")
    arrays, meta = first.state()
    restored.load_state(arrays, json.loads(json.dumps(meta)))
    rest = ratios(data, relations=restored, start=1000)
    for name in data:
        assert np.array_equal(rest[name][1000:], whole[name][1000:])


def test_samples_for_a_closed_block_are_counted_and_left_out():
    rel = Relations(CONFIG, "current")
    for i in range(20):
        rel.observe("m", "current", float(i), 10.0)
        rel.observe("m", "temp", float(i), 50.0)
    rel.observe("m", "temp", 3.0, 60.0)  # its block (0-7 s) closed long ago
    assert rel.late == 1


def test_off_without_block_or_without_a_context_channel(forecaster):
    model = edge_lstm.load(forecaster, "numba-f32")
    assert Engine(model, EngineConfig(detector=DetectorConfig())).relations is None  # no context
    off = EngineConfig(operating=OperatingConfig("current"), relation=RelationConfig(block=0))
    assert Engine(model, off).relations is None


def test_the_engine_raises_a_relation_incident_on_the_drifting_channel(forecaster):
    """Through the engine (the detector's sixth view), with a checkpoint taken halfway."""
    model = edge_lstm.load(forecaster, "numba-f32")
    config = EngineConfig(forecast_every=0, standardise=100, operating=OperatingConfig("current"),
                          relation=RelationConfig(block=8, span=8, warmup=8))
    data = machine(n=2400, drift_at=1600)
    engine, events = Engine(model, config), []
    for i in range(2400):
        if i == 1200:
            engine2 = Engine(model, config)
            engine2.restore(*engine.snapshot())
            (before, meta_before), (after, meta_after) = engine.relations.state(), engine2.relations.state()
            assert meta_after == meta_before and before.keys() == after.keys()
            assert all(np.array_equal(before[key], after[key]) for key in before)
            engine = engine2
        items = [(f"m/{name}", Sample(float(i), (float(v[i]),))) for name, v in data.items()]
        events += [e for e in engine.process(items) if e.kind == "anomaly" and e.state == "open"]
    events += [e for e in engine.flush() if e.state == "open"]
    relation = [(e.stream, e.start) for e in events if e.view == "relation"]
    assert relation and {stream for stream, _ in relation} == {"m/temp"}, relation
    assert min(start for _, start in relation) > 1600


def test_a_long_silence_leaves_no_false_blame_and_judging_resumes():
    data = machine(n=3000, drift_at=2700)
    rel = Relations(CONFIG, "current")
    out = {name: np.zeros(3000) for name in data}
    for i in range(3000):
        t = float(i) + (50_000.0 if i >= 1500 else 0.0)  # the device is silent for 14 hours at sample 1500
        for name, values in data.items():
            out[name][i] = rel.observe("m", name, t, float(values[i]))
    assert all(np.isfinite(v).all() for v in out.values())
    assert blamed({name: v[:2700] for name, v in out.items()}) == set()
    assert blamed({name: v[2700:] for name, v in out.items()}) == {"temp"}


def test_the_cusum_alone_finds_a_drift_and_blames_only_the_drifting_channel():
    """With the span comparison out of reach (its gate enormous), only the CUSUM can raise a ratio."""
    data = machine(n=3600)
    t = np.arange(3600)
    data["temp"] = data["temp"] + np.where(t >= 2000, 0.02 * (t - 2000), 0.0)
    cusum_only = replace(CONFIG, gate=1e9)
    assert blamed(ratios(data, replace(cusum_only, cusum=0.0))) == set()
    r = ratios(data, cusum_only)
    assert blamed(r) == {"temp"}
    assert int(np.flatnonzero(r["temp"] > 1.0)[0]) > 2000
