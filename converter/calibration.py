"""Calibration data: input windows used to check parity (and, later, to calibrate quantisation).

Accepted: ``.npy`` windows ``(N, T, F)`` (or ``(N, T)`` for one feature); ``.npz`` holding either
windows or a raw series; ``.csv`` of a raw series (non-numeric columns such as a timestamp are
skipped). Raw series ``(L, F)`` are cut into windows of ``window`` samples.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from edge_lstm.errors import EdgeLSTMError
from edge_lstm.evaluate.labelled import has_time_column
from edge_lstm.serve.payloads import PayloadError
from edge_lstm.serve.payloads import number as measurement


class CalibrationDataError(EdgeLSTMError):
    """Calibration data cannot be read or does not fit the model."""


def windows_from_series(series: np.ndarray, window: int, max_windows: int = 512) -> np.ndarray:
    """Cut a series ``(L, F)`` into at most ``max_windows`` evenly spaced windows ``(N, window, F)``.

    >>> windows_from_series(np.arange(10.0)[:, None], window=4, max_windows=3)[:, :, 0].tolist()
    [[0.0, 1.0, 2.0, 3.0], [3.0, 4.0, 5.0, 6.0], [6.0, 7.0, 8.0, 9.0]]
    """
    length = series.shape[0]
    if length < window:
        raise CalibrationDataError(f"the series has {length} samples, fewer than one window of {window}")
    count = min(max_windows, length - window + 1)
    starts = np.linspace(0, length - window, count).round().astype(int)
    return np.stack([series[s : s + window] for s in starts]).astype(np.float32)


def read_csv_series(path: Path) -> tuple[np.ndarray, list[str]]:
    """Numeric columns of a CSV with a header row, as ``(L, F)`` float32, and their names (a first column of times,
    by :func:`edge_lstm.evaluate.labelled.has_time_column`, is never one of them). A column is numeric when most of
    its first 50 filled cells are numbers; a cell that is not one (empty, text, NaN, infinite, a short row) reads
    as NaN, one row per file row: :func:`finite_rows` drops such rows as the daemon refuses such a sample."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise CalibrationDataError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], rows[1:]

    def number(row: list[str], col: int) -> float:  # NaN where the daemon would refuse the value
        try:
            return measurement(row[col], "value")
        except (PayloadError, IndexError):
            return math.nan

    def numeric(col: int) -> bool:
        filled = [r for r in body if len(r) > col and r[col].strip()][:50]
        return bool(filled) and sum(math.isfinite(number(r, col)) for r in filled) > len(filled) / 2

    first = 1 if has_time_column(header, body) else 0
    cols = [c for c in range(first, len(header)) if numeric(c)]
    if not cols:
        raise CalibrationDataError(f"{path}: no numeric column found (columns: {header})")
    data = np.array([[number(r, c) for c in cols] for r in body if r], dtype=np.float32).reshape(-1, len(cols))
    return data, [header[c] for c in cols]


def finite_rows(series: np.ndarray) -> np.ndarray:
    """The rows of ``series`` (L, F) whose every value is a finite number (the others: a sample the daemon refuses).

    >>> finite_rows(np.array([[1.0], [np.nan], [2.0]])).ravel().tolist()
    [1.0, 2.0]
    """
    return series[np.isfinite(series).all(axis=1)]


def load_calibration(path: str | Path, features: int, window: int | None, max_windows: int = 512) -> np.ndarray:
    """Load calibration windows ``(N, T, features)`` float32 from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationDataError(f"{path}: no such file")
    window = window or 50
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
            if data.ndim == 2 and features == 1:
                data = data[:, :, None]
            if data.ndim != 3:
                raise CalibrationDataError(
                    f"{path}: .npy calibration data must be windows (N, T, F); got shape {data.shape}. "
                    "Pass a raw series as .csv or .npz to have it windowed."
                )
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                known = [k for k in ("x", "windows", "series") if k in npz.files]
                key = (known or npz.files or [None])[0]
                if key is None:
                    raise CalibrationDataError(f"{path}: the .npz holds no array")
                data = npz[key]
            if data.ndim == 1:
                data = data[:, None]
            if data.ndim == 2:
                data = windows_from_series(data, window, max_windows)
        elif suffix == ".csv":
            series, names = read_csv_series(path)
            series = finite_rows(series)
            if series.shape[1] != features and features == 1 and "value" in names:
                series = series[:, [names.index("value")]]
            data = windows_from_series(series, window, max_windows) if series.shape[1] == features else series[None]
        else:
            raise CalibrationDataError(f"{path}: unknown calibration format {suffix!r} (use .npy, .npz or .csv)")
    except (ValueError, OSError) as exc:
        raise CalibrationDataError(f"{path}: cannot be read ({exc})") from None
    if data.ndim != 3 or data.shape[-1] != features:
        raise CalibrationDataError(
            f"{path}: calibration data has {data.shape[-1]} feature(s) per sample but the model expects {features}"
        )
    if data.dtype.kind not in "fiu":
        raise CalibrationDataError(f"{path}: calibration data must be numeric, got {data.dtype}")
    if not np.isfinite(data).all():
        raise CalibrationDataError(f"{path}: calibration data contains NaN or inf")
    if data.shape[0] > max_windows:
        data = data[np.linspace(0, data.shape[0] - 1, max_windows).round().astype(int)]
    return np.ascontiguousarray(data, dtype=np.float32)
