"""Calibration data in every accepted format, and clear errors for data that does not fit."""

import numpy as np
import pytest

from converter.calibration import CalibrationDataError, load_calibration


def test_npy_windows(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((10, 50, 3)))
    assert load_calibration(tmp_path / "w.npy", features=3, window=50).shape == (10, 50, 3)
    np.save(tmp_path / "w2.npy", np.ones((10, 50)))
    assert load_calibration(tmp_path / "w2.npy", features=1, window=50).shape == (10, 50, 1)


def test_csv_series_with_timestamp_is_windowed(tmp_path):
    rows = ["timestamp,value"] + [f"2024-01-01 00:{i // 60:02d}:{i % 60:02d},{np.sin(i / 5):.5f}" for i in range(300)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    windows = load_calibration(tmp_path / "s.csv", features=1, window=50, max_windows=100)
    assert windows.shape == (100, 50, 1)
    np.testing.assert_allclose(windows[0, :, 0], np.sin(np.arange(50) / 5), atol=1e-5)
    np.testing.assert_allclose(windows[-1, -1, 0], np.sin(299 / 5), atol=1e-5)


def test_csv_rows_with_a_missing_value_are_left_out(tmp_path):
    """A CSV row the daemon would refuse (an empty, NaN or text value) is left out of the windows, not refused whole."""
    cells = [f"{i}" for i in range(300)]
    cells[10], cells[11], cells[200] = "", "nan", "n/a"
    (tmp_path / "s.csv").write_text("timestamp,value\n" + "".join(f"{60 * i},{c}\n" for i, c in enumerate(cells)))
    windows = load_calibration(tmp_path / "s.csv", features=1, window=50, max_windows=300)
    assert windows.shape == (248, 50, 1) and np.isfinite(windows).all()
    assert windows[0, 9:11, 0].tolist() == [9.0, 12.0]  # (rows 10 and 11 left out)


def test_npz_raw_series(tmp_path):
    np.savez(tmp_path / "s.npz", series=np.random.default_rng(0).normal(size=(500, 2)))
    assert load_calibration(tmp_path / "s.npz", features=2, window=30).shape[1:] == (30, 2)


def test_wrong_feature_count_is_named(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((10, 50, 2)))
    with pytest.raises(CalibrationDataError, match=r"2 feature.*expects 3"):
        load_calibration(tmp_path / "w.npy", features=3, window=50)


def test_nan_and_short_series_are_refused(tmp_path):
    bad = np.ones((4, 20, 1))
    bad[2, 3, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(CalibrationDataError, match="NaN"):
        load_calibration(tmp_path / "nan.npy", features=1, window=20)
    np.savez(tmp_path / "short.npz", x=np.ones(10))
    with pytest.raises(CalibrationDataError, match="fewer than one window of 50"):
        load_calibration(tmp_path / "short.npz", features=1, window=50)
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(CalibrationDataError, match="unknown calibration format"):
        load_calibration(tmp_path / "x.parquet", features=1, window=50)
