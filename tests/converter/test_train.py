"""`edge-lstm train` → `convert` → streaming, end to end on a tiny series."""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("keras")

import edge_lstm
from converter.calibration import CalibrationDataError
from converter.train import load_series, sequences, train
from tests.support.keras_models import sine_series


def test_sequences_target_the_next_values_of_the_first_feature_at_every_step():
    s = np.arange(40, dtype=np.float32).reshape(20, 2)
    x, y, starts = sequences(s, length=8, horizon=2)
    assert starts.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # (one every 8 / 8 samples; the last ends at row 17)
    assert x.shape == (11, 8, 2) and y.shape == (11, 8, 2)
    assert x[0, :3, 0].tolist() == [0.0, 2.0, 4.0] and y[0, 0].tolist() == [2.0, 4.0] and y[0, 2].tolist() == [6.0, 8.0]
    assert y[-1, -1].tolist() == [36.0, 38.0]  # the last target known: rows 18 and 19
    _, y, _ = sequences(s, length=8, horizon=2, cumulative=True)
    assert y[0, 0].tolist() == [2.0, 6.0]  # running sums, for a series of changes
    assert sequences(s, length=19, horizon=2)[0].shape[0] == 0  # too short for one


def test_train_convert_stream(tmp_path):
    """A user's own CSV and labels (README, "Your own data") through train, convert and evaluate."""
    values = sine_series(3000, seed=4)
    values[2500:2503] += 3.0  # the user's one labelled fault, after what the daemon learns from
    (tmp_path / "labels.json").write_text(json.dumps(  # (their times in their own offset: 2024-01-01 00:41 UTC)
        {"series.csv": [["2024-01-01T01:41:30+01:00", "2024-01-01T01:42:30+01:00"]]}))
    stamp = "2024-01-01 {:02d}:{:02d}:{:02d}"
    rows = "".join(f"{stamp.format(i // 3600, i // 60 % 60, i % 60)},{v:.4f}\n" for i, v in enumerate(values))
    (tmp_path / "series.csv").write_text("timestamp,value\n" + rows)
    cli = [sys.executable, "-m", "edge_lstm"]
    trained = subprocess.run([*cli, "train", str(tmp_path / "series.csv"), "--out", str(tmp_path / "m.keras"),
                              "--window", "30", "--units", "16", "--dense", "8", "--epochs", "8", "--quiet"],
                             capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["val_rmse"] < report["naive_rmse"], "a trained forecaster beats repeating the last value"
    assert report["features"] == ["value"] and report["window"] == 30 and report["head"] == "all"
    assert report["loss"] == "huber"  # the default
    converted = subprocess.run([*cli, "convert", str(tmp_path / "m.keras"), "--calibration",
                                str(tmp_path / "series.csv"), "--out", str(tmp_path / "bundle"), "--quiet"],
                               capture_output=True, text=True)
    assert converted.returncode == 0, converted.stdout + converted.stderr
    # A model of any input length is also checked on one long stream, state carried, as the daemon runs it.
    assert "one stream of" in converted.stdout
    stream = json.loads((tmp_path / "bundle" / "parity.json").read_text())["backends"]["numba-f32"]["stream"]
    assert stream["steps"] > 1000 and stream["within_tolerance"] is True, stream
    model = edge_lstm.load(tmp_path / "bundle", "numba-int8")
    streamed = model.run(values[:500])[:, 0]
    # Raw units in and out: the one-step forecasts track the signal itself.
    assert np.sqrt(np.mean((streamed[49:-1] - values[50:500]) ** 2)) < 3 * report["naive_rmse"]
    evaluated = subprocess.run([*cli, "evaluate", str(tmp_path / "series.csv"), "--bundle", str(tmp_path / "bundle"),
                                "--windows", str(tmp_path / "labels.json"), "--out", str(tmp_path / "eval"),
                                "--standardise", "none", "--no-plots", "--quiet"], capture_output=True, text=True)
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert "(seed 0, huber loss)" in summary["protocol"]  # the bundle records how its model was trained
    assert summary["samples"] == 3000 and summary["forecast"]["rmse_vs_naive_median"] < 1.0
    assert summary["incidents"]["windows"] == 1 and summary["incidents"]["detected"] == 1, summary["incidents"]
    assert (tmp_path / "eval" / "edgelstm" / "edgelstm_series.csv").exists()


def test_max_sequences_bounds_training_and_the_report_judges_the_stream(tmp_path):
    values = sine_series(2000, seed=5)
    (tmp_path / "s.csv").write_text("timestamp,value\n" + "".join(f"{i},{v:.4f}\n" for i, v in enumerate(values)))
    report = train(tmp_path / "s.csv", tmp_path / "m.keras", window=64, units=(4,), dense=4, epochs=1,
                   validation=0.5, max_sequences=30, progress=False)
    assert report.train_sequences == 30 and report.validation_sequences == 30 and report.series == 1
    assert np.load(tmp_path / "m.calibration.npy").shape == (30, 64, 1)  # (convert calibrates on these)
    with pytest.raises(CalibrationDataError, match="max_sequences must be positive"):
        train(tmp_path / "s.csv", tmp_path / "m.keras", max_sequences=0, progress=False)


def test_head_probation_learns_only_the_rows_the_protocol_allows(tmp_path):
    """train --head probation: probation.json's rows where it lists the file, NAB's 15% (at most 750) elsewhere."""
    from converter.train import heads

    (tmp_path / "a.csv").write_text("t,v\n" + "".join(f"{i},{i}\n" for i in range(10_000)))
    (tmp_path / "b.csv").write_text("t,v\n" + "".join(f"{i},{i}\n" for i in range(1_000)))
    (tmp_path / "probation.json").write_text('{"b.csv": 400}')
    series, _ = load_series(tmp_path)
    assert [len(s) for s in heads(tmp_path, series, "probation")] == [750, 400]
    assert [len(s) for s in heads(tmp_path, series, 0.5)] == [5000, 500]


def test_the_huber_loss_is_not_pulled_by_the_outliers_it_learns_from(tmp_path):
    """Rare spikes no model can foresee: trained with the squared error, the forecaster raises every forecast toward
    them (their mean share); with the Huber loss (the default) it keeps forecasting the quiet level, so a spike
    stands out from its forecast by more."""
    import keras

    rng = np.random.default_rng(7)
    values = rng.normal(0.0, 1.0, 4000)
    values[rng.random(4000) < 0.03] += 40.0  # 3% of samples: spikes of 40 spreads (mean pull 1.2)
    (tmp_path / "s.csv").write_text("timestamp,value\n" + "".join(f"{i},{v:.4f}\n" for i, v in enumerate(values)))
    quiet = rng.normal(0.0, 1.0, (1, 300, 1)).astype(np.float32)
    bias = {}
    for loss in ("mse", "huber"):
        report = train(tmp_path / "s.csv", tmp_path / f"{loss}.keras", window=64, units=(4,), dense=4, epochs=4,
                       max_sequences=200, loss=loss, progress=False)
        assert report.loss == loss
        model = keras.saving.load_model(tmp_path / f"{loss}.keras")
        bias[loss] = float(np.mean(model.predict(quiet, verbose=0)[0, 32:, 0]))
    assert bias["mse"] > 0.6 and abs(bias["huber"]) < 0.4, bias
    with pytest.raises(CalibrationDataError, match="loss must be one of"):
        train(tmp_path / "s.csv", tmp_path / "x.keras", loss="l3", progress=False)


def test_load_series_reads_a_firmware_sim_export(tmp_path):
    from firmware_sim.export import export
    from firmware_sim.scenario import load_scenario

    export(load_scenario("pump-cavitation").with_duration(120), tmp_path / "export")
    series, names = load_series(tmp_path / "export")
    assert len(series) == 10 and names == ["value"] and all(len(s) == 120 for s in series)


def test_a_numeric_timestamp_column_is_not_a_feature(tmp_path):
    (tmp_path / "s.csv").write_text("timestamp,value,temp\n1700000000,1.5,20\n1700000060,1.6,21\n")
    series, names = load_series(tmp_path / "s.csv")
    assert names == ["value", "temp"] and series[0].tolist() == [[1.5, 20.0], [1.600000023841858, 21.0]]
    (tmp_path / "s.csv").write_text("a,b\n1,2\n3,4\n")  # no time column: every numeric column counts
    assert load_series(tmp_path / "s.csv")[1] == ["a", "b"]


def test_cells_that_are_not_numbers_leave_their_rows_out(tmp_path):
    """An empty, NaN or text cell reads as NaN (the column is still a feature: most of its cells are numbers), and
    train leaves such rows out of what it learns from, counted, as the daemon refuses such a sample."""
    from converter.calibration import finite_rows, read_csv_series

    rows = "".join(f"{1700000000 + 60 * i},{'' if i == 3 else 'nan' if i == 5 else f'{v:.4f}'},1\n"
                   for i, v in enumerate(sine_series(400, seed=1)))
    (tmp_path / "s.csv").write_text("timestamp,value,on\n" + rows)
    series, names = read_csv_series(tmp_path / "s.csv")
    assert names == ["value", "on"] and series.shape == (400, 2) and np.isnan(series[[3, 5], 0]).all()
    assert len(finite_rows(series)) == 398
    report = train(tmp_path / "s.csv", tmp_path / "m.keras", window=30, units=(4,), dense=4, epochs=1,
                   progress=False)
    assert report.refused_rows == 2 and np.isfinite(report.val_rmse), report


def test_a_differencing_model_learns_the_level_under_the_noise(tmp_path):
    """A level that steps far beyond its first samples' spread, plus white noise: the mean of recent samples
    beats the last value by about 29%; a model of the changes (train --difference) gets most of that, and the
    bundle says how it must be fed."""
    rng = np.random.default_rng(3)
    values = 50.0 + np.repeat(rng.normal(0, 10, 6), 500) + rng.normal(0, 1.0, 3000)
    rows = "".join(f"{i},{v:.4f}\n" for i, v in enumerate(values))
    (tmp_path / "series.csv").write_text("timestamp,value\n" + rows)
    cli = [sys.executable, "-m", "edge_lstm"]
    trained = subprocess.run([*cli, "train", str(tmp_path / "series.csv"), "--out", str(tmp_path / "m.keras"),
                              "--window", "30", "--units", "16", "--dense", "8", "--epochs", "10", "--max-sequences",
                              "1000", "--standardise", "100", "--difference", "--quiet"],
                             capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["difference"] is True and report["skill"] > 0.18, report  # (the best possible: about 0.26)
    converted = subprocess.run([*cli, "convert", str(tmp_path / "m.keras"), "--out", str(tmp_path / "bundle"),
                                "--quiet"], capture_output=True, text=True)
    assert converted.returncode == 0, converted.stdout + converted.stderr
    assert edge_lstm.read_bundle(tmp_path / "bundle").manifest["preprocessing"] == {"standardise": 100,
                                                                                    "difference": True}
    evaluated = subprocess.run([*cli, "evaluate", str(tmp_path / "series.csv"), "--bundle", str(tmp_path / "bundle"),
                                "--out", str(tmp_path / "eval"), "--set", "forecast.fallback=0", "--no-plots",
                                "--quiet"], capture_output=True, text=True)
    assert evaluated.returncode == 0, evaluated.stderr
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    forecast = summary["forecast"]  # (through the engine, steps included: the last value scores 1.0)
    assert "train --difference" in summary["protocol"]  # the summary says how the model was fed
    assert forecast["rmse_vs_naive_median"] < 0.9 and forecast["mae_vs_naive_median"] < 0.85, forecast


def test_streamed_errors_run_several_series_at_once_as_each_alone(monkeypatch):
    """Series of different lengths judged together (padded at the end) read as each streamed alone from zero state
    (judged whole: a state carried in from padding would show in the first steps); a group bounded by samples
    splits them, with the same result."""
    import keras

    import converter.train as trained

    keras.utils.set_random_seed(0)
    lstm = keras.layers.LSTM(8, return_sequences=True, bias_initializer="ones")  # (zeros in move the state)
    model = keras.Sequential([keras.Input((None, 1)), lstm, keras.layers.Dense(1)])
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(n, 1)).astype(np.float32) for n in (300, 41, 180, 2, 300)]
    expected = np.concatenate([(np.asarray(model(s[None, :-1]))[0] - trained.targets(s, 1)).ravel()
                               for s in series])
    together, naive = trained.streamed_errors(model, series, 1.0, 1, False)
    np.testing.assert_allclose(together, expected, rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(trained, "STREAMED_SAMPLES", 400)  # (groups of one or two series)
    np.testing.assert_allclose(trained.streamed_errors(model, series, 1.0, 1, False)[0], expected, rtol=1e-5,
                               atol=1e-6)
    assert naive.shape == expected.shape
