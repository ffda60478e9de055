"""Compare detector runs seed by seed, and say where each run's false incidents are.

Each RUN is an ``--out`` folder of ``tools/evaluate_sets.py`` (``RUN/<set>/seed<N>/<backend>/summary.json`` and
``incidents.csv``). The first run is the reference: for every other run, per set and seed, the NAB score, the
windows found and the false incidents, with their change, then the means. ``--breakdown`` adds, per run and set
(all seeds together), the incidents by the view that opened them, by strength (peak score under 0.6: weak) and by
whether another view also found them, true / false, and how many false ones open within the first probation
length after the probation rows (a young stream's bars have learned least).

    python research/compare_runs.py build/evaluate /tmp/study [--sets nab-dev,smap,ucr-dev] [--backend numba-int8]
                                    [--breakdown]
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_lstm.evaluate.protocol import nab_probation

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def seeds_of(run: Path, name: str, backend: str) -> dict[int, Path]:
    """Seed number -> that seed's result folder, for one set of one run."""
    found = {}
    for folder in sorted((run / name).glob(f"seed*/{backend}")):
        found[int(folder.parent.name.removeprefix("seed"))] = folder
    return found


def figures(folder: Path) -> tuple[float, int, int]:
    """(NAB standard score, windows found, false incidents) of one result folder."""
    summary = json.loads((folder / "summary.json").read_text())
    nab = summary["nab"].get("standard", summary["nab"])
    return nab["score"], summary["incidents"]["detected"], summary["incidents"]["false"]


def compare(runs: list[Path], names: list[str], backend: str) -> None:
    for name in names:
        reference = seeds_of(runs[0], name, backend)
        print(f"== {name}")
        for run in runs:
            seeds = seeds_of(run, name, backend)
            cells, scores = [], []
            for seed, folder in seeds.items():
                score, found, false = figures(folder)
                scores.append(score)
                cell = f"s{seed} {score:.1f} {found}w {false}f"
                if run != runs[0] and seed in reference:
                    base = figures(reference[seed])
                    cell += f" ({score - base[0]:+.1f}, {found - base[1]:+d}w, {false - base[2]:+d}f)"
                cells.append(cell)
            if scores:
                print(f"  {run.name:>16}  mean {statistics.mean(scores):.1f}  |  " + "  |  ".join(cells))


def breakdown(run: Path, name: str, backend: str) -> None:
    """Incidents of all seeds by opening view, strength and agreement; false ones in the young stream."""
    data = DATA / name
    probation = json.loads((data / "probation.json").read_text()) if (data / "probation.json").exists() else None
    young_span: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    counts: collections.Counter = collections.Counter()
    young = collections.Counter()
    for folder in seeds_of(run, name, backend).values():
        for row in csv.DictReader(open(folder / "incidents.csv")):
            truth = "true" if row["true"] != "0" else "false"
            strength = "weak" if float(row["peak_score"]) < 0.6 else "strong"
            agreed = "with others" if "+" in row["views"] else "alone"
            counts[(row["opened_by"], strength, agreed, truth)] += 1
            if row["file"] not in young_span:
                stamps = [line.split(",", 1)[0] for line in (data / row["file"]).read_text().splitlines()[1:]]
                rows = probation[row["file"]] if probation else nab_probation(len(stamps))
                young_span[row["file"]] = (dt.datetime.fromisoformat(stamps[min(rows, len(stamps) - 1)]),
                                           dt.datetime.fromisoformat(stamps[min(2 * rows, len(stamps) - 1)]))
            first, young_end = young_span[row["file"]]
            if first <= dt.datetime.fromisoformat(row["start"]) < young_end:
                young[(row["opened_by"], truth)] += 1
    print(f"  {run.name} / {name}: opened by, strength, agreement: true / false")
    for key in sorted({k[:3] for k in counts}):
        print(f"    {' '.join(key):32s} {counts[(*key, 'true')]:4d} / {counts[(*key, 'false')]:4d}")
    views = sorted({k[0] for k in young})
    print("    in the first probation length scored: " +
          ", ".join(f"{v} {young[(v, 'true')]} / {young[(v, 'false')]}" for v in views))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="evaluate_sets.py --out folders (the first: the reference)")
    parser.add_argument("--sets", default="nab-dev,smap,ucr-dev")
    parser.add_argument("--backend", default="numba-int8")
    parser.add_argument("--breakdown", action="store_true", help="where each run's incidents are, by view")
    args = parser.parse_args()
    names = [s for s in args.sets.split(",") if s]
    compare(args.runs, names, args.backend)
    if args.breakdown:
        for run in args.runs:
            for name in names:
                breakdown(run, name, args.backend)


if __name__ == "__main__":
    main()
