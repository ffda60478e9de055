"""Does the forecaster detect better when it is told where it is in the series' cycle?

Writes a copy of a labelled set (``../shared/data/<set>``) with two more columns, the sine and cosine of each
sample's time within the period at which the autocorrelation of the file's probation rows peaks (the highest peak
after its first zero crossing, at least 8 samples, kept if over ``--min-acf``; zeros where there is none), so that
``edge-lstm train`` learns a shared model with three inputs that forecasts the first. Only the probation rows choose
the period.

    python research/phase_features.py ../shared/data/nab-dev OUT/shared/data/nab-dev

then run ``tools/evaluate_sets.py`` from a git worktree whose parent folder holds that ``shared/`` (it reads the
sets from there) and compare with ``research/compare_runs.py``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import numpy as np

from edge_lstm.evaluate.protocol import find as find_probation


def period_of(values: np.ndarray, min_acf: float) -> int:
    """The lag (samples) of the autocorrelation's highest peak after its first zero crossing; 0 if under ``min_acf``."""
    p = values - values.mean()
    if len(p) <= 32 or not p.std() > 0:
        return 0
    n = 1 << (2 * len(p)).bit_length()
    spectrum = np.fft.rfft(p, n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), n)[: len(p) // 2]
    acf /= acf[0]
    below = np.nonzero(acf < 0)[0]
    lo = max(int(below[0]), 8) if below.size else len(acf)
    if lo >= len(acf) - 1:
        return 0
    k = lo + int(np.argmax(acf[lo:]))
    return k if acf[k] > min_acf else 0


def write_with_phase(path: Path, out: Path, learn: int, min_acf: float) -> bool:
    """Copy one CSV with the phase columns; whether a period was found."""
    rows = list(csv.reader(path.open()))
    header, body = rows[0], rows[1:]
    ts = np.array([np.datetime64(r[0].replace(" ", "T"), "s") for r in body]).astype(np.int64)
    period = period_of(np.array([float(r[1]) for r in body[:learn]]), min_acf)
    if period:
        span = period * float(np.median(np.diff(ts[:learn])))
        phase = 2 * np.pi * ((ts - ts[0]) % span) / span
        sin, cos = np.sin(phase), np.cos(phase)
    else:
        sin = cos = np.zeros(len(body))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([header[0], header[1], "phase_sin", "phase_cos"])
        for row, s, c in zip(body, sin, cos, strict=True):
            writer.writerow([row[0], row[1], f"{s:.6f}", f"{c:.6f}"])
    return bool(period)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--min-acf", type=float, default=0.3)
    args = parser.parse_args()
    probation, root = find_probation(args.source)  # as edge-lstm evaluate reads it (else NAB's rule)
    args.target.mkdir(parents=True, exist_ok=True)
    for f in args.source.iterdir():
        if f.is_file() and f.suffix != ".csv":
            shutil.copy(f, args.target / f.name)
    files = sorted(args.source.rglob("*.csv"))
    found = 0
    for path in files:
        rel = path.relative_to(args.source)
        learn = probation.rows(path.resolve().relative_to(root.resolve()).as_posix(), sum(1 for _ in path.open()) - 1)
        found += write_with_phase(path, args.target / rel, learn, args.min_acf)
    print(f"{args.source.name}: a period in {found} of {len(files)} files")


if __name__ == "__main__":
    main()
