"""`edge-lstm evaluate`: replay through the streaming path, no look-ahead, NAB layout and scores."""

import json
import subprocess
import sys

import numpy as np
import pytest

import edge_lstm
from edge_lstm.errors import EdgeLSTMError
from edge_lstm.evaluate.labelled import nab_time, read_series
from edge_lstm.evaluate.protocol import nab_probation as probation_length
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


def _evaluate(data, windows, forecaster, out, *options: str) -> dict:
    """``edge-lstm evaluate`` run as a user runs it; it must succeed. Returns its summary.json."""
    run = subprocess.run([sys.executable, "-m", "edge_lstm", "evaluate", str(data), "--bundle", str(forecaster),
                          "--windows", str(windows), "--out", str(out), "--quiet", *options],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads((out / "summary.json").read_text())


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
    trace = replay(model, ts, values, EngineConfig(gap_s=float("inf"), settle=0))
    np.testing.assert_allclose(trace.expected[1:], model.run(values[:-1, None].astype(np.float32))[:, 0], rtol=1e-6)


def test_evaluate_writes_nab_layout_scores_and_plots(forecaster, tmp_path):
    data = tmp_path / "data"
    ts, values = _series()
    windows = _write(data, "machines/spiky.csv", ts, values, [(ts[1080], ts[1140])])
    ts2, values2 = _series(seed=5, spike=0)
    windows.update(_write(data, "machines/calm.csv", ts2, values2, []))
    (data / "windows.json").write_text(json.dumps(windows))
    out = tmp_path / "out"
    summary = _evaluate(data, data / "windows.json", forecaster, out, "--standardise", "none")
    results = out / "edgelstm" / "machines" / "edgelstm_spiky.csv"
    lines = results.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,label" and len(lines) == 1 + ts.size
    scores = np.array([float(line.split(",")[2]) for line in lines[1:]])
    assert 0 <= scores.min() and scores.max() <= 1 and np.argmax(scores) in range(1100, 1105)
    assert summary["nab"]["standard"]["score"] > 50, summary["nab"]
    assert summary["incidents"]["detected"] == 1 and summary["incidents"]["windows"] == 1
    scored_days = sum((t[-1] - t[probation_length(t.size)]) / 86400 for t in (ts, ts2))  # after each probation
    assert summary["incidents"]["stream_days"] == pytest.approx(scored_days)
    assert summary["forecast"]["rmse_vs_naive_median"] < 1.0
    assert (out / "plots" / "machines" / "spiky.png").stat().st_size > 10_000
    assert "| standard |" in (out / "summary.md").read_text()
    assert "--difference" not in summary["protocol"]  # (a model of the values)
    incidents = (out / "incidents.csv").read_text().splitlines()
    assert incidents[0] == "file,start,end,true,peak_score,opened_by,views"
    true = [line.split(",") for line in incidents[1:] if line.split(",")[3] == "1"]
    assert true and {t[0] for t in true} == {"machines/spiky.csv"} and float(true[0][4]) > 0.5, incidents
    assert true[0][5] in true[0][6].split("+"), true  # the view that opened it found it anomalous


def test_evaluate_takes_a_clock_set_back_as_the_daemon_does(forecaster, tmp_path):
    """A daylight-saving step back of an hour and repeated stamps do not stop the run: the rows no newer than one
    before them are dropped (as the daemon drops them), counted, and still written with score 0."""
    ts, values = _series()
    ts = ts.copy()
    ts[700:] -= 3600.0  # the clock goes back an hour at row 700: rows 700-759 repeat an hour already seen
    ts[300] = ts[299]  # and one stamp repeats
    windows = _write(tmp_path / "data", "dst.csv", ts, values, [(ts[1080], ts[1140])])
    (tmp_path / "windows.json").write_text(json.dumps(windows))
    out = tmp_path / "o"
    summary = _evaluate(tmp_path / "data", tmp_path / "windows.json", forecaster, out, "--standardise", "none",
                        "--no-plots", "--gap", "600")
    # (row 300 dropped)
    assert summary["clock"] == {"out_of_order": 59, "repeated": 2, "missing": 1, "rejected": 0}, summary["clock"]
    assert summary["protocol"].endswith("a silence over 600 s restarts a stream from zero state "
                                        "(input.restart_after_s)"), summary["protocol"]
    assert summary["incidents"]["detected"] == 1
    rows = (out / "edgelstm" / "edgelstm_dst.csv").read_text().splitlines()[1:]
    assert len(rows) == ts.size and {r.split(",")[2] for r in rows[701:760]} == {"0.000000"}
    assert "dropped, as the daemon drops them" in (out / "summary.md").read_text()


def test_evaluate_follows_probation_json(forecaster, tmp_path):
    """probation.json beside the data sets, per file, the rows learned from and not scored; NAB's rule elsewhere."""
    data = tmp_path / "data"
    ts, values = _series()
    windows = _write(data, "set/a.csv", ts, values, [(ts[1080], ts[1140])])
    windows.update(_write(data, "set/b.csv", ts, values, [(ts[1080], ts[1140])]))
    windows.update(_write(data, "set/c.csv", ts[:60], values[:60], []))  # all of it probation: nothing scored
    (data / "windows.json").write_text(json.dumps(windows))
    (data / "probation.json").write_text(json.dumps({"set/a.csv": 1090, "set/c.csv": 100}))
    out = tmp_path / "o"
    summary = _evaluate(data, data / "windows.json", forecaster, out, "--standardise", "probation", "--no-plots")
    rows = {f["name"]: f for f in summary["files"]}
    assert rows["set/a.csv"]["probation"] == 1090 and rows["set/b.csv"]["probation"] == probation_length(ts.size)
    assert "probation.json lists them (2 files" in summary["protocol"]
    assert rows["set/c.csv"]["false_incidents"] == 0 and "nan" not in (out / "summary.md").read_text()
    assert "does not record what its model learned from" in summary["protocol"]
    assert summary["protocol"].endswith("a gap restarts nothing, as in the daemon by default")


def test_read_series_keeps_what_the_daemon_takes(tmp_path):
    (tmp_path / "s.csv").write_text("timestamp,value\n0,1\n60,2\n60,3\n30,5\n120,4\n300,6\n")
    s = read_series(tmp_path / "s.csv", "s.csv")
    assert s.kept.tolist() == [True, True, False, False, True, True]
    assert s.clock == {"out_of_order": 1, "repeated": 1, "missing": 2, "rejected": 0}


def test_read_series_leaves_out_what_the_daemon_refuses(tmp_path):
    """A row whose time or value the daemon would refuse as a sample is left out, its reason kept; the file's row
    numbers stay known, so probation.json's counts still mean the file's rows."""
    (tmp_path / "s.csv").write_text("timestamp,value\n0,1\n60,nan\n120,\n180,-4e38\nnoon,5\n240\n300,text\n"
                                    "360,4\n")
    s = read_series(tmp_path / "s.csv", "s.csv")
    assert s.values.ravel().tolist() == [1.0, 4.0] and s.rows.tolist() == [0, 7] and s.file_rows == 8
    assert [r.split(":")[0] for r in s.rejected] == [f"row {i}" for i in range(3, 9)]
    assert "NaN and infinity are not measurements" in s.rejected[0] and "float32 range" in s.rejected[2]
    assert s.clock["rejected"] == 6 and s.held(7) == 1 and s.held(8) == 2
    (tmp_path / "bad.csv").write_text("timestamp,value\n0,\n60,x\n")
    refused = r"bad.csv: no row holds a time and 1 numbers \(row 2: value must be a number, got str ''\)"
    with pytest.raises(EdgeLSTMError, match=refused):
        read_series(tmp_path / "bad.csv", "bad.csv")


def test_evaluate_leaves_out_refused_rows_and_keeps_the_probation_of_the_file(forecaster, tmp_path):
    """Empty, NaN and text values, in the probation rows and after, do not stop a run: they are counted and named,
    and probation.json's row count is of the file's rows (a refused row among them still counts)."""
    ts, values = _series()
    data = tmp_path / "data"
    windows = _write(data, "gappy.csv", ts, values, [(ts[1080], ts[1140])])
    lines = (data / "gappy.csv").read_text().splitlines()
    for row, cell in ((100, ""), (101, "nan"), (900, "n/a")):  # (data rows: the header is line 0)
        lines[row + 1] = f"{lines[row + 1].split(',')[0]},{cell}"
    (data / "gappy.csv").write_text("\n".join(lines) + "\n")
    (data / "windows.json").write_text(json.dumps(windows))
    (data / "probation.json").write_text(json.dumps({"gappy.csv": 600}))
    out = tmp_path / "o"
    summary = _evaluate(data, data / "windows.json", forecaster, out, "--standardise", "probation", "--no-plots")
    assert summary["clock"]["rejected"] == 3 and summary["incidents"]["detected"] == 1, summary
    assert summary["files"][0]["probation"] == 598  # the file's first 600 rows, two of them refused
    assert "gappy.csv row 102: value must be a number, got str ''" in (out / "summary.md").read_text()


def test_train_and_evaluate_read_the_same_columns(tmp_path):
    """One rule tells the time column (edge_lstm.evaluate.labelled.has_time_column): what train takes as features
    is what evaluate replays, and a first column evaluate cannot take as times is named, not guessed."""
    from converter.calibration import read_csv_series

    for header, first in (("timestamp", "1700000000"), ("Date", "2024-01-01 00:00:00"), ("time", "1700000000")):
        path = tmp_path / f"{header}.csv"
        path.write_text(f"{header},value,temp\n{first},1.5,20\n")
        assert read_csv_series(path)[1] == read_series(path, path.name).columns == ["value", "temp"]
    path = tmp_path / "t.csv"
    path.write_text("t,value\n1700000000,1.5\n1700000060,1.6\n")
    assert read_csv_series(path)[1] == ["t", "value"]  # (train: epoch numbers under another name are a feature)
    with pytest.raises(EdgeLSTMError, match=r"the first column must hold the samples' times, named one of .*got 't'"):
        read_series(path, path.name)


def test_a_bad_probation_table_is_named(tmp_path):
    from edge_lstm.evaluate.protocol import find

    (tmp_path / "probation.json").write_text('{"a.csv": -1}')
    with pytest.raises(EdgeLSTMError, match=r"probation.json: 'a.csv' must map to a whole number of rows"):
        find(tmp_path)
    (tmp_path / "probation.json").write_text("[1, 2]")
    with pytest.raises(EdgeLSTMError, match="expected an object mapping file paths to row counts"):
        find(tmp_path)
    (tmp_path / "probation.json").unlink()
    assert find(tmp_path)[0].rows("a.csv", 10_000) == 750  # NAB's rule without a table


def test_event_precision_counts_each_window_once():
    """Precision is windows found over windows found plus false incidents (telemanom's and Orion's overlap rule):
    splitting the incident in a window into five neither gains nor costs, while each false incident costs."""
    from edge_lstm.evaluate.incidents import match

    windows = [(100.0, 200.0), (500.0, 600.0)]
    one = match([(110.0, 120.0), (900.0, 910.0)], windows)
    split = match([(110.0 + 10 * k, 115.0 + 10 * k) for k in range(5)] + [(900.0, 910.0)], windows)
    assert (one.detected, one.false_incidents, split.true_incidents) == (1, 1, 5)
    assert one.precision == split.precision == 0.5
    assert one.f1 == split.f1 == 0.5
    worse = match([(110.0, 120.0), (900.0, 910.0), (950.0, 960.0)], windows)
    assert worse.precision == pytest.approx(1 / 3)
    assert match([], windows).precision == 1.0 and match([], windows).recall == 0.0


def test_evaluate_judges_nothing_across_the_end_of_the_probation_rows_unless_asked(forecaster, tmp_path):
    """A file whose scored rows are another recording (the sine resumes half a period out of phase where the
    probation rows end): the jump there is no incident, unless --judge-across-probation asks to judge it."""
    from edge_lstm.evaluate.corpus import evaluate

    join, n = 976, 1600  # the first recording ends near a crest, the second starts near a trough
    t = np.arange(n) + np.where(np.arange(n) >= join, 9.0 * np.pi, 0.0)
    values = 3 + 2 * np.sin(t / 9.0) + 0.05 * np.random.default_rng(0).normal(size=n)
    ts = T0 + 60.0 * np.arange(n)
    data = tmp_path / "data"
    windows = _write(data, "a.csv", ts, values, [(ts[1400], ts[1450])])
    (data / "windows.json").write_text(json.dumps(windows))
    (data / "probation.json").write_text(json.dumps({"a.csv": join}))
    model = edge_lstm.load(forecaster, "numba-int8")
    runs = {across: evaluate(model, data, data / "windows.json", tmp_path / str(across), plots=False,
                             progress=False, across_probation=across) for across in (False, True)}
    assert runs[True]["incidents"]["false"] >= 1, "judged across the join, its jump is a false incident"
    assert runs[False]["incidents"]["false"] == 0
    assert "holding a probation row or the first scored row, are learned, not judged" in runs[False]["protocol"]
    assert "is judged like any other sample" in runs[True]["protocol"]
    assert [runs[a]["judged_across_probation"] for a in (False, True)] == [False, True]
