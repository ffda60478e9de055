"""False incidents on series with nothing to find: synthetic streams of ten kinds (noise, heavy tails, random walks,
cycles, counts, steps, quantised drift, bursts), no labels, so a detector's rate of false incidents on each kind can
be measured on data no benchmark chose (issue 22: what the held-out sets punish is mostly false incidents).

    python research/null_series.py --bundles build/evaluate --sets nab-dev,ucr-dev [--seed 0] [--out build/null]

Each kind is written three times (different random draws), 20,000 samples at 5-minute steps, as a folder of NAB-layout
CSVs with an empty ``combined_windows.json`` (no ``probation.json``: NAB's rule, the first 750 rows are learned
from); each set's bundle (``BUNDLES/SET/seedN/bundle``) replays them through ``edge-lstm evaluate --standardise
probation`` with the daemon's defaults, and the false incidents are counted per kind and per view that opened them.
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import json
import subprocess
import sys
from itertools import accumulate
from pathlib import Path

import numpy as np

N = 20_000
DAY = 288  # samples a day at 5-minute steps
CLI = [sys.executable, "-m", "edge_lstm"]


def kinds(i: np.ndarray) -> dict:
    """Each kind: a function of a random generator returning N values."""
    return {
        "white": lambda r: r.normal(0, 1, N),
        "student3": lambda r: r.standard_t(3, N),
        "ar1": lambda r: np.array(list(accumulate(r.normal(0, 1, N), lambda a, e: 0.95 * a + e))),
        "walk": lambda r: np.cumsum(r.normal(0, 1, N)),
        "daily": lambda r: 10 * np.sin(2 * np.pi * i / DAY) + r.normal(0, 1, N),
        "counts": lambda r: r.poisson(20 * (1.2 + np.sin(2 * np.pi * i / DAY))).astype(float),
        "steps": lambda r: np.repeat(r.choice([0.0, 1.0, 2.5], N // 200 + 1), 200)[:N] + r.normal(0, 0.01, N),
        "quantised": lambda r: np.round(np.cumsum(r.normal(0, 0.05, N))),
        "square": lambda r: np.where((i % DAY) < DAY // 3, 5.0, 1.0) + r.normal(0, 0.2, N),
        "bursty": lambda r: r.exponential(1, N) * (1 + 9 * (r.random(N) < 0.01)),
    }


def write(folder: Path) -> None:
    (folder / "null").mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2020, 1, 1)
    stamps = [(start + dt.timedelta(minutes=5 * k)).strftime("%Y-%m-%d %H:%M:%S") for k in range(N)]
    windows = {}
    for number, (kind, make) in enumerate(kinds(np.arange(N)).items()):
        for draw in range(3):
            values = make(np.random.default_rng(1000 * number + draw))
            name = f"null/{kind}_{draw}.csv"
            with (folder / name).open("w", newline="") as f:
                out = csv.writer(f)
                out.writerow(["timestamp", "value"])
                out.writerows(zip(stamps, (f"{v:.6g}" for v in values), strict=True))
            windows[name] = []
    (folder / "combined_windows.json").write_text(json.dumps(windows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=Path, default=Path("build/evaluate"))
    parser.add_argument("--sets", default="nab-dev,ucr-dev")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("build/null"))
    parser.add_argument("--set", action="append", default=[], help="a detector setting, as evaluate --set takes")
    args = parser.parse_args()
    data = args.out / "data"
    if not (data / "combined_windows.json").exists():
        write(data)
    for name in args.sets.split(","):
        out = args.out / name
        subprocess.run([*CLI, "evaluate", str(data), "--windows", str(data / "combined_windows.json"), "--bundle",
                        str(args.bundles / name / f"seed{args.seed}" / "bundle"), "--backend", "numba-int8",
                        "--standardise", "probation", "--out", str(out), "--no-plots", "--quiet",
                        *(x for s in args.set for x in ("--set", s))], check=True, stdout=subprocess.DEVNULL)
        counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        with (out / "incidents.csv").open() as f:
            for row in csv.DictReader(f):
                counts[Path(row["file"]).stem.rsplit("_", 1)[0]][row["opened_by"]] += 1
        scored = 3 * (N - 750)
        print(f"{name}'s bundle: false incidents per kind (per 1,000 points scored; by the view that opened them)")
        for kind in kinds(np.arange(N)):
            c = counts.get(kind, collections.Counter())
            views = ", ".join(f"{v} {n}" for v, n in c.most_common())
            print(f"  {kind:10s} {sum(c.values()):3d}  ({1000 * sum(c.values()) / scored:.2f})  {views}")


if __name__ == "__main__":
    main()
