"""`edge-lstm evaluate`: replay through the streaming path, no look-ahead, NAB layout and scores."""

import json
import subprocess
import sys

import numpy as np
import pytest

import edge_lstm
from edge_lstm.errors import EdgeLSTMError
from edge_lstm.evaluate.labelled import nab_time, read_series
from edge_lstm.evaluate.nab import probation_length
from edge_lstm.evaluate.replay import replay
from edge_lstm.stream.engine import EngineConfig
from tests.support.keras_models import sine_series

T0 = 1_700_000_000.0


def _series(n: int = 1500, spike: int = 1100, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    values = sine_series(n, seed=seed).astype(np.float64)
    values[spike : spike + 3] += 4.0
    return T0 + 60.0 * np.arange(n), values


def _write(folder, name, ts, values, windows):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("timestamp,value\n" + "".join(f"{nab_time(t)},{v:.6f}\n" for t, v in zip(ts, values, strict=True)))
    return {name: [[nab_time(a), nab_time(b)] for a, b in windows]}


def test_replay_has_no_look_ahead(forecaster):
    """Changing the future never changes a past score, forecast or incident."""
    model = edge_lstm.load(forecaster, "numba-f32")
    ts, values = _series()
    base = replay(model, ts, values)
    changed = values.copy()
    changed[900:] = np.random.default_rng(0).normal(0, 3, changed.size - 900)
    other = replay(model, ts, changed)
    np.testing.assert_array_equal(base.score[:900], other.score[:900])
    np.testing.assert_array_equal(base.expected[:901], other.expected[:901])
    assert not np.array_equal(base.score[900:], other.score[900:])
    assert [i for i in base.incidents if i[1] < ts[900]] == [i for i in other.incidents if i[1] < ts[900]]


def test_replay_is_deterministic_and_finds_the_spike(forecaster):
    model = edge_lstm.load(forecaster, "numba-int8")
    ts, values = _series()
    a, b = replay(model, ts, values), replay(model, ts, values)
    np.testing.assert_array_equal(a.score, b.score)
    assert a.incidents == b.incidents
    assert any(start <= ts[1102] and end >= ts[1100] for start, end in a.incidents), a.incidents
    # The forecast beats the last value on this smooth signal, and its interval is near its nominal 95%.
    err = np.nanmean((a.value[100:] - a.expected[100:]) ** 2)
    assert err < np.mean(np.diff(values[99:]) ** 2)
    inside = np.mean((a.value[200:] >= a.lower[200:]) & (a.value[200:] <= a.upper[200:]))
    assert 0.85 < inside <= 1.0


def test_replay_equals_the_model_run(forecaster):
    """The replay's forecasts are the bundle's own streaming outputs (no separate code path)."""
    model = edge_lstm.load(forecaster, "numba-f32")
    ts, values = _series(400)
    trace = replay(model, ts, values, EngineConfig(gap_s=float("inf")))
    np.testing.assert_allclose(trace.expected[1:], model.run(values[:-1, None].astype(np.float32))[:, 0], rtol=1e-6)


def test_evaluate_writes_nab_layout_scores_and_plots(forecaster, tmp_path):
    data = tmp_path / "data"
    ts, values = _series()
    windows = _write(data, "machines/spiky.csv", ts, values, [(ts[1080], ts[1140])])
    ts2, values2 = _series(seed=5, spike=0)
    windows.update(_write(data, "machines/calm.csv", ts2, values2, []))
    (data / "windows.json").write_text(json.dumps(windows))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "edge_lstm", "evaluate", str(data), "--bundle", str(forecaster),
                          "--windows", str(data / "windows.json"), "--out", str(out), "--standardise", "none",
                          "--quiet"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    results = out / "edgelstm" / "machines" / "edgelstm_spiky.csv"
    lines = results.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,label" and len(lines) == 1 + ts.size
    scores = np.array([float(line.split(",")[2]) for line in lines[1:]])
    assert 0 <= scores.min() and scores.max() <= 1 and np.argmax(scores) in range(1100, 1105)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["nab"]["standard"]["score"] > 50, summary["nab"]
    assert summary["incidents"]["detected"] == 1 and summary["incidents"]["windows"] == 1
    scored_days = sum((t[-1] - t[probation_length(t.size)]) / 86400 for t in (ts, ts2))  # after each probation
    assert summary["incidents"]["stream_days"] == pytest.approx(scored_days)
    assert summary["forecast"]["rmse_vs_naive_median"] < 1.0
    assert (out / "plots" / "machines" / "spiky.png").stat().st_size > 10_000
    assert "| standard |" in (out / "summary.md").read_text()
    assert "--difference" not in summary["protocol"]  # (a model of the values)


def test_evaluate_names_a_bad_file(forecaster, tmp_path):
    (tmp_path / "bad.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1\n2023-01-01 00:00:00,2\n")
    run = subprocess.run([sys.executable, "-m", "edge_lstm", "evaluate", str(tmp_path / "bad.csv"), "--bundle",
                          str(forecaster), "--out", str(tmp_path / "o"), "--quiet"], capture_output=True, text=True)
    assert run.returncode == 2 and "bad.csv row 3" in run.stderr and "back in time" in run.stderr


def test_read_series_spreads_repeated_timestamps(tmp_path):
    (tmp_path / "s.csv").write_text("timestamp,value\n0,1\n60,2\n60,3\n120,4\n")
    s = read_series(tmp_path / "s.csv", "s.csv")
    assert s.ts.tolist() == pytest.approx([0, 60, 60.001, 120]) and s.values[:, 0].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(("cell", "reason"), [("nan", "row 3: NaN or infinite value"),
                                              ("-4e38", "row 3: a value beyond the float32 range")])
def test_read_series_refuses_what_the_model_cannot_take(tmp_path, cell, reason):
    (tmp_path / "s.csv").write_text(f"timestamp,value\n0,1\n60,{cell}\n120,4\n")
    with pytest.raises(EdgeLSTMError, match=reason):
        read_series(tmp_path / "s.csv", "s.csv")
