"""The forecast fallback: the last value replaces a model that lost track of a stream."""

import numpy as np
import pytest

import edge_lstm
from edge_lstm.evaluate.corpus import forecast_metrics
from edge_lstm.evaluate.replay import replay
from edge_lstm.forecast.fallback import Fallback
from edge_lstm.serve.config import ConfigError, load_config, settings_config
from edge_lstm.serve.wire import event_body
from edge_lstm.stream.engine import Engine, EngineConfig
from edge_lstm.stream.sample import Sample
from tests.support.bundles import lstm_model, random_bundle


def reference_choices(idx, value, model, judged, ratio, alpha, warmup):
    """The fallback's rule written out plainly, one sample at a time: step k of the forecast made k samples ago
    against this value, the model's and the last value's; ``model`` (n, horizon)."""
    horizon = model.shape[1]
    state: dict[int, dict] = {}
    out = []
    for i, x, m, j in zip(idx, value, model, judged, strict=True):
        s = state.setdefault(int(i), {"me": [0.0] * horizon, "le": [0.0] * horizon, "n": [0] * horizon, "past": []})
        for k in range(horizon):
            if j and len(s["past"]) > k:
                made, last = s["past"][-1 - k]
                s["n"][k] += 1
                w = max(alpha, 1.0 / s["n"][k])
                s["me"][k] += w * ((x - made[k]) ** 2 - s["me"][k])
                s["le"][k] += w * ((x - last) ** 2 - s["le"][k])
        out.append([s["n"][k] >= warmup and s["me"][k] > ratio * s["le"][k] for k in range(horizon)])
        s["past"].append((list(m), x))
    return out


def test_fallback_follows_the_rule_per_stream_in_order():
    rng = np.random.default_rng(1)
    n = 600
    idx = rng.integers(0, 3, n)
    value = np.cumsum(rng.normal(size=n))
    model_next = value + rng.normal(scale=np.where(np.arange(n) < 300, 0.5, 3.0))  # the model degrades
    judged = rng.random(n) > 0.1
    fb = Fallback(ratio=1.5, alpha=0.05, warmup=10, capacity=2)
    fb.grow(3)
    got = np.concatenate([fb.update(idx[a:a + 50], value[a:a + 50], model_next[a:a + 50, None], judged[a:a + 50])
                          for a in range(0, n, 50)])
    want = reference_choices(idx, value, model_next[:, None], judged, 1.5, 0.05, 10)
    assert got.tolist() == want
    for stream in range(3):  # what each stream forecasts now is its last choice
        assert fb.active(np.array([stream]))[0] == got[np.flatnonzero(idx == stream)[-1], 0]
    assert 0 < sum(w[0] for w in want) < n  # both forecasters were chosen
    off = Fallback(ratio=0.0, alpha=0.05, warmup=10, capacity=3)
    assert not off.update(idx, value, model_next[:, None], judged).any()


def test_each_step_ahead_is_judged_on_its_own_errors():
    """A model that forecasts the next sample worse than the last value, but two and three ahead better."""
    t = np.arange(200, dtype=np.float64)
    model = t[:, None] + np.array([5.0, 2.0, 3.0])  # (the ramp's true k-step values are t + k: step 1 is off by 4)
    fb = Fallback(ratio=1.0, alpha=0.05, warmup=10, capacity=1, horizon=3)
    got = fb.update(np.zeros(200, np.int64), t, model, np.ones(200, bool))
    assert got[-1].tolist() == [True, False, False]
    rng = np.random.default_rng(2)  # and every step follows the rule written out plainly
    idx, value = rng.integers(0, 2, 300), np.cumsum(rng.normal(size=300))
    model = value[:, None] + rng.normal(size=(300, 3)) * np.array([2.0, 0.5, 1.5])
    judged = rng.random(300) > 0.1
    fb = Fallback(ratio=1.0, alpha=0.05, warmup=10, capacity=2, horizon=3)
    assert fb.update(idx, value, model, judged).tolist() == reference_choices(idx, value, model, judged, 1.0, 0.05,
                                                                              10)


def level_shift(n: int = 400, at: int = 200) -> np.ndarray:
    """A small oscillation, then the same far above anything a model scaled for it has seen."""
    x = np.sin(np.arange(n) / 4.0)
    x[at:] += 500.0
    return x


def feed(engine: Engine, x: np.ndarray, start: int = 0) -> list:
    return [e for t in range(start, x.size) for e in engine.process([("s", Sample(float(t), (x[t],)))])]


def test_engine_forecasts_the_last_value_where_the_model_lost_track():
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    x = level_shift()
    on = feed(Engine(model, EngineConfig(forecast_every=1)), x)
    off = feed(Engine(model, EngineConfig(forecast_every=1, fallback=0)), x)
    own = model.run(x[:, None].astype(np.float32))[:, 0]
    f_on = [event_body(e) for e in on if e.kind == "forecast"]
    f_off = [event_body(e) for e in off if e.kind == "forecast"]
    assert all(b["forecaster"] == "model" for b in f_off)
    np.testing.assert_allclose([b["values"][0] for b in f_off], own, rtol=1e-5)
    after = f_on[260:]  # the shift is far behind: the model's saturated forecast is not used
    assert all(b["forecaster"] == "last_value" for b in after)
    np.testing.assert_allclose([b["values"][0] for b in after], x[260:])
    for b in f_on:  # either forecaster's values are what it says
        t = int(b["ts"])
        assert b["values"][0] == pytest.approx(x[t] if b["forecaster"] == "last_value" else own[t], rel=1e-5)
    error_on = np.array([b["values"][0] for b in f_on[260:-1]]) - x[261:]
    error_off = np.array([b["values"][0] for b in f_off[260:-1]]) - x[261:]
    assert np.sqrt(np.mean(error_on**2)) < 0.1 * np.sqrt(np.mean(error_off**2))
    # Anomaly scoring judged the forecast published.
    published = {b["ts"]: (b["values"][0], b["forecaster"]) for b in f_on}
    anomalies = [event_body(e) for e in on if e.kind == "anomaly"]
    assert anomalies
    for body in anomalies:
        value, forecaster = published[body["ts"] - 1]
        assert body["expected"] == pytest.approx(value) and body["forecaster"] == forecaster


def test_the_fallback_is_forgotten_after_a_gap_and_kept_in_checkpoints():
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    x = level_shift()
    config = EngineConfig(forecast_every=1, restart_after_s=30)
    a = Engine(model, config)
    feed(a, x[:300])
    assert a.fallback.count[0] > 0 and a.counters["fallback_forecasts"] > 0
    b = Engine(model, config)
    b.restore(*a.snapshot())
    np.testing.assert_array_equal(b.fallback.model_error[:1], a.fallback.model_error[:1])
    rest_a, rest_b = feed(a, x, 300), feed(b, x, 300)
    assert [(event_body(e)["ts"], event_body(e).get("forecaster"), event_body(e).get("values")) for e in rest_a] == [
        (event_body(e)["ts"], event_body(e).get("forecaster"), event_body(e).get("values")) for e in rest_b]
    a.process([("s", Sample(1000.0, (x[-1],)))])  # after a silence longer than restart_after_s: trusted anew
    assert a.counters["gap_resets"] == 1 and a.fallback.count[0] == 0


def test_fallback_settings_are_validated(tmp_path):
    config = settings_config(["forecast.fallback=1.5", "forecast.fallback_alpha=0.1"])
    assert (config.fallback, config.fallback_alpha) == (1.5, 0.1)
    with pytest.raises(ConfigError, match=r"forecast\.fallback: must be zero or positive, got -1"):
        settings_config(["forecast.fallback=-1"])
    with pytest.raises(ConfigError, match=r"forecast\.fallback_alpha: must be in \(0, 1\), got 1"):
        settings_config(["forecast.fallback_alpha=1"])
    with pytest.raises(ConfigError, match=r"forecast\.fallbak: unknown key; did you mean forecast\.fallback"):
        settings_config(["forecast.fallbak=1"])
    with pytest.raises(ConfigError, match=r"input\.standardise: unknown key"):  # (evaluate's --standardise)
        settings_config(["input.standardise=5"])
    (tmp_path / "b").mkdir()
    config = load_config(None, {"model.bundle": str(tmp_path / "b"), "forecast.fallback": "0"})
    assert config["forecast"]["fallback"] == 0


def test_a_replay_marks_the_samples_judged_against_the_last_value():
    """What evaluate reports as the fallback's share: per sample, whether the forecast it was judged against
    (and its interval) was the last value — the forecaster the forecast event made one sample earlier named."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 1), seed=3), "numba-f32")
    x = level_shift()
    config = EngineConfig(forecast_every=1)
    named = {e.ts: e.forecasters[0] for e in feed(Engine(model, config), x) if e.kind == "forecast"}
    trace = replay(model, np.arange(x.size, dtype=np.float64), x[:, None], config)
    judged = np.isfinite(trace.expected)
    assert judged[60:].all()
    for t in np.flatnonzero(judged):
        assert trace.naive[t] == (named[t - 1] == "last_value")
        if trace.naive[t]:
            assert trace.expected[t] == pytest.approx(x[t - 1])
    metrics = forecast_metrics(trace, 100)
    assert metrics["fallback"] == pytest.approx(trace.naive[100:].mean())
    assert 0.5 < metrics["fallback"] < 1.0  # after the shift: the last value; before it, some of each


def test_a_multi_step_forecast_holds_the_last_value_over_its_horizon():
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 3), seed=3), "numba-f32")
    x = level_shift()
    events = feed(Engine(model, EngineConfig(forecast_every=1)), x)
    after = [event_body(e) for e in events if e.kind == "forecast"][260:]
    assert after and all(b["forecaster"] == "last_value" and b["horizon"] == 3 for b in after)
    for b in after:
        assert b["values"] == pytest.approx([x[int(b["ts"])]] * 3, rel=1e-6)  # (the value as a float32)
        assert all(lo <= v <= hi for lo, v, hi in zip(b["lower"], b["values"], b["upper"], strict=True))


def test_a_replay_records_the_published_forecasts_every_step_ahead():
    """evaluate judges a multi-step model on what it published, step by step, against the last value."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (6,), 3), seed=3), "numba-f32")
    x = level_shift()
    config = EngineConfig(forecast_every=5)
    published = {e.ts: e.values for e in feed(Engine(model, config), x) if e.kind == "forecast"}
    trace = replay(model, np.arange(x.size, dtype=np.float64), x[:, None], config)
    rows = np.flatnonzero(np.isfinite(trace.ahead[:, 0]))
    assert rows.tolist() == sorted(int(t) for t in published)
    for t in rows:
        np.testing.assert_allclose(trace.ahead[t], published[float(t)])
    steps = forecast_metrics(trace, 100)["steps_rmse_vs_naive"]
    assert len(steps) == 3 and np.isfinite(steps).all()
