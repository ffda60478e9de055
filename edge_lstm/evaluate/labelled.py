"""Labelled series on disk: NAB-style CSVs (``timestamp,value[,...]``) and windows JSON.

A windows file maps a CSV's path (relative to the data folder) to its labelled anomaly windows,
``{"realTraffic/speed_6005.csv": [["2015-09-01 10:00:00", "2015-09-01 12:00:00"], ...]}``; times
are NAB's ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (UTC), ISO-8601 or epoch seconds.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np

from edge_lstm.errors import EdgeLSTMError
from edge_lstm.serve.payloads import PayloadError, cell_ts, is_number, number


@dataclass(frozen=True)
class LabelledSeries:
    name: str  # path relative to the data folder, with forward slashes
    ts: np.ndarray  # epoch seconds, (L,)
    values: np.ndarray  # (L, F) float64
    columns: list[str]
    windows: list[tuple[float, float]]  # labelled anomaly windows, epoch seconds
    # The file's data rows the series holds (0-based, (L,)); a row the daemon would refuse is not among them.
    rows: np.ndarray | None = None
    rejected: list[str] = field(default_factory=list)  # why each refused row was refused, in file order

    @property
    def file_rows(self) -> int:
        """Data rows in the file, refused ones included (what ``probation.json`` counts)."""
        return len(self.ts) + len(self.rejected)

    def held(self, file_rows: int) -> int:
        """How many of the series' rows lie among the file's first ``file_rows`` data rows."""
        return file_rows if self.rows is None else int(np.searchsorted(self.rows, file_rows))

    @cached_property
    def kept(self) -> np.ndarray:
        """Rows the daemon would take: each one newer than every row before it (it drops one that is not)."""
        return in_order(self.ts)

    @property
    def clock(self) -> dict[str, int]:
        """What is wrong with the file's rows: rows older than one before them (``out_of_order``), rows stamped the
        same as the newest before them (``repeated``), samples missing from gaps longer than one and a half times the
        usual step (``missing``, estimated from the median step), and rows refused for a time or value the daemon
        would refuse (``rejected``)."""
        newest = np.maximum.accumulate(self.ts)
        back, same = self.ts[1:] < newest[:-1], self.ts[1:] == newest[:-1]
        step = np.diff(self.ts[self.kept])
        usual = float(np.median(step)) if step.size else 0.0
        missing = int(np.sum(np.round(step[step > 1.5 * usual] / usual) - 1)) if usual > 0 else 0
        return {"out_of_order": int(back.sum()), "repeated": int(same.sum()), "missing": missing,
                "rejected": len(self.rejected)}

    @property
    def category(self) -> str:
        """The folder the file sits in (NAB's data category), or "" at the top level."""
        return self.name.rpartition("/")[0]


TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def nab_time(epoch: float) -> str:
    """Epoch seconds as NAB's ``YYYY-MM-DD HH:MM:SS`` (UTC); sub-second rates keep milliseconds.

    >>> nab_time(1396310700.0), nab_time(1396310700.25)
    ('2014-04-01 00:05:00', '2014-04-01 00:05:00.250')
    """
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    text = moment.strftime(TIME_FORMAT)
    return text if moment.microsecond == 0 else f"{text}.{moment.microsecond // 1000:03d}"


def to_epoch(text: str, where: str) -> float:
    """Epoch seconds of a timestamp cell; a clear error naming ``where`` otherwise.

    >>> to_epoch("2014-04-01 00:05:00", "here")
    1396310700.0
    """
    try:
        return cell_ts(text, arrival=math.nan)
    except PayloadError as exc:
        raise EdgeLSTMError(f"{where}: {exc}") from None


#: Header names of a first column that holds the samples' times, not a feature (even when numeric: epoch seconds).
TIME_COLUMNS = frozenset({"timestamp", "time", "ts", "date", "datetime", "epoch"})


def has_time_column(header: list[str], body: list[list[str]]) -> bool:
    """Whether a CSV's first column holds the samples' times: named as one (:data:`TIME_COLUMNS`) or holding dates,
    not numbers. Every reader of the project's CSVs follows this rule (train, convert's calibration, evaluate).

    >>> has_time_column(["timestamp", "value"], [["1700000000", "1.5"]]), has_time_column(["t", "v"], [["1", "2"]])
    (True, False)
    """
    if not header:
        return False
    if header[0].strip().lower() in TIME_COLUMNS:
        return True
    return bool(body and body[0]) and not is_number(body[0][0])


def read_series(path: Path, name: str, windows: list[tuple[float, float]] | None = None) -> LabelledSeries:
    """A CSV whose first column is the timestamp and the others numbers. A row the daemon would refuse as a sample
    (a time it cannot read; an empty, non-numeric, NaN, infinite or out-of-range value; too few cells) is left out
    and its reason kept (:attr:`LabelledSeries.rejected`); rows out of time order are kept here:
    :attr:`LabelledSeries.kept` says which the streaming path takes."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r]
    if len(rows) < 2:
        raise EdgeLSTMError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], rows[1:]
    if len(header) < 2:
        raise EdgeLSTMError(f"{path}: expected columns timestamp,value[,...], got {header}")
    if not has_time_column(header, body):
        raise EdgeLSTMError(f"{path}: the first column must hold the samples' times, named one of "
                            f"{', '.join(sorted(TIME_COLUMNS))} (or holding dates); got {header[0]!r}")
    ts, values, kept, rejected = [], [], [], []
    for i, r in enumerate(body):
        try:
            row = parse_row(r, len(header))
        except EdgeLSTMError as exc:
            rejected.append(f"row {i + 2}: {exc}")
            continue
        ts.append(row[0])
        values.append(row[1])
        kept.append(i)
    if not ts:
        raise EdgeLSTMError(f"{path}: no row holds a time and {len(header) - 1} numbers ({rejected[0]})")
    return LabelledSeries(name, np.array(ts), np.array(values, dtype=np.float64), header[1:], list(windows or []),
                          np.array(kept), rejected)


def parse_row(row: list[str], columns: int) -> tuple[float, list[float]]:
    """A data row's time (epoch seconds) and values, or an error saying why the daemon would refuse the sample.

    >>> parse_row(["2014-04-01 00:05:00", "1.5"], 2)
    (1396310700.0, [1.5])
    >>> parse_row(["2014-04-01 00:05:00", ""], 2)
    Traceback (most recent call last):
    edge_lstm.errors.EdgeLSTMError: value must be a number, got str ''
    """
    if len(row) < columns:
        raise EdgeLSTMError(f"{len(row)} cells, not {columns}")
    row = row[:columns]
    try:
        ts = cell_ts(row[0], arrival=math.nan)
        values = [number(cell, "value") for cell in row[1:]]
    except PayloadError as exc:
        raise EdgeLSTMError(str(exc)) from None
    return ts, values


def in_order(ts: np.ndarray) -> np.ndarray:
    """Rows newer than every row before them: what the streaming path takes (it drops a sample no newer than the
    last, as a clock set back an hour for daylight saving sends).

    >>> in_order(np.array([0.0, 5.0, 5.0, 9.0, 3.0, 10.0])).tolist()
    [True, True, False, True, False, True]
    """
    if not ts.size:
        return np.zeros(0, bool)
    before = np.concatenate([[-np.inf], np.maximum.accumulate(ts)[:-1]])
    return ts > before


def json_object(path: Path, what: str, maps_to: str) -> dict:
    """A JSON file holding one object (``what`` names it in errors, ``maps_to`` says what its values are)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgeLSTMError(f"{path}: cannot read the {what} ({exc})") from None
    if not isinstance(raw, dict):
        raise EdgeLSTMError(f"{path}: expected an object mapping file paths to {maps_to}")
    return raw


def read_windows(path: Path) -> dict[str, list[tuple[float, float]]]:
    """The windows JSON as ``{relative path: [(start, end) epoch seconds, ...]}``."""
    raw = json_object(path, "windows JSON", "lists of [start, end]")
    out = {}
    for name, windows in raw.items():
        if not isinstance(windows, list) or any(not isinstance(w, list) or len(w) != 2 for w in windows):
            raise EdgeLSTMError(f"{path}: {name!r} must map to a list of [start, end] pairs")
        out[name] = [(to_epoch(str(a), f"{path} {name}"), to_epoch(str(b), f"{path} {name}")) for a, b in windows]
    return out


def discover(data: Path, windows_file: Path | None) -> list[tuple[Path, str, list[tuple[float, float]]]]:
    """(csv path, relative name, windows) for every CSV under ``data`` (or ``data`` itself)."""
    windows = read_windows(windows_file) if windows_file else {}
    if data.is_file():
        files = [(data, data.name)]
    elif data.is_dir():
        files = [(p, p.relative_to(data).as_posix()) for p in sorted(data.rglob("*.csv"))]
    else:
        raise EdgeLSTMError(f"{data}: no such file or folder")
    if not files:
        raise EdgeLSTMError(f"{data}: no CSV files")
    unknown = sorted(set(windows) - {name for _, name in files})
    if unknown:
        raise EdgeLSTMError(f"{windows_file}: windows for files not found under {data}: {unknown[:3]}")
    return [(path, name, windows.get(name, [])) for path, name in files]
