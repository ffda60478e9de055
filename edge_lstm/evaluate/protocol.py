"""The learning protocol of a labelled series: how many leading rows a detector may learn from. Pure but for reading
``probation.json``.

A data folder may carry ``probation.json``, ``{"SMAP/A-1.csv": 2880, ...}`` (paths relative to the folder): per file,
the rows that form its training part. Elsewhere NAB's rule holds: the first 15% of a file, at most 750 rows (15% of
5,000). Nothing after those rows may be learned from (fit, tune, normalise) for that file, and nothing before their end
is scored.

>>> nab_probation(4032), nab_probation(22695)
(604, 750)
>>> Probation({"a.csv": 10}).rows("a.csv", 1000), Probation({}).rows("b.csv", 1000)
(10, 150)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from edge_lstm.errors import EdgeLSTMError
from edge_lstm.evaluate.labelled import json_object

FILE = "probation.json"
NAB_SHARE = 0.15
NAB_CAP = 750


def nab_probation(n: int) -> int:
    """NAB's probationary period of an ``n``-row file: 15% of it, at most 750 rows."""
    return int(min(math.floor(NAB_SHARE * n), NAB_SHARE * 5000))


@dataclass(frozen=True)
class Probation:
    """Per-file probation rows (from ``probation.json``), NAB's rule for the files it does not list."""

    table: dict[str, int] = field(default_factory=dict)
    source: str = ""  # the file the table came from ("" when none)

    def rows(self, name: str, n: int) -> int:
        """The rows of file ``name`` (relative to the data folder) that may be learned from, of its ``n``."""
        return min(n, self.table[name]) if name in self.table else nab_probation(n)

    def describe(self) -> str:
        """The rule, in words, for summaries."""
        nab = f"the first {NAB_SHARE:.0%} of each file, at most {NAB_CAP} rows (NAB's rule)"
        if not self.table:
            return nab
        return f"each file's training rows as {self.source} lists them ({len(self.table)} files; elsewhere {nab})"


def find(data: Path) -> tuple[Probation, Path]:
    """The probation table governing ``data`` (a CSV or a folder), and the folder its names are relative to: the
    nearest ``probation.json`` in ``data`` or a folder above it (up to three levels), else NAB's rule with ``data``
    (a folder) or its parent (a file) as the root."""
    data = Path(data)
    start = data if data.is_dir() else data.parent
    for folder in [start, *list(start.parents)[:3]]:
        path = folder / FILE
        if path.is_file():
            return read(path), folder
    return Probation(), start


def read(path: Path) -> Probation:
    """``probation.json``, checked: an object mapping relative CSV paths to non-negative row counts."""
    raw = json_object(path, "probation table", "row counts")
    bad = [name for name, rows in raw.items() if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0]
    if bad:
        raise EdgeLSTMError(f"{path}: {bad[0]!r} must map to a whole number of rows (0 or more)")
    return Probation(dict(raw), str(path))
