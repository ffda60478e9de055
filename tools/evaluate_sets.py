"""``make evaluate``: train, convert and evaluate every labelled set for several seeds, then one table.

For each set (a folder of ``../shared/data`` with ``combined_windows.json``) and seed: ``edge-lstm train --head
probation`` (only the rows each file's protocol allows; train's default budget, what a user gets), ``convert``, and
``evaluate`` through ``numba-int8`` and ``numba-f32`` with the daemon's defaults (no per-set profile), into
``OUT/<set>/seed<N>/``. Two jobs run at once (a training uses about one core). The table gives each figure as the
mean over seeds with its range, the published detectors beside it (same files, same metric), and the largest
int8-vs-f32 difference.

    python tools/evaluate_sets.py [--sets nab-dev,smap,ucr-dev] [--seeds 0,1,2] [--out build/evaluate]
                                  [--reuse | --bundles DIR] [--backends numba-int8] [--set KEY=VALUE ...]

``--reuse`` keeps bundles already trained; ``--bundles DIR`` evaluates those an earlier run left under DIR (to compare
detector settings on the same models); ``--set`` passes a detector setting to every evaluate (for studies: what ships
is the default).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLI = [sys.executable, "-m", "edge_lstm"]
#: Published detectors on the same files and metric (docs/evaluation.md gives the sources).
ANCHORS = {
    "nab-dev": "HTM 75.4, ARTime 74.8 (NAB standard, null rescored on these 35 files)",
    "smap": "telemanom F1 0.867, Orion AER 0.764, LSTM-DT 0.732",
    "ucr-dev": "Orion AER F1 0.588, LSTM-DT 0.557, MatrixProfile 0.317",
}
COLUMNS = (("NAB", ("nab", "standard", "score"), "{:.1f}"), ("F1", ("incidents", "f1"), "{:.2f}"),
           ("precision", ("incidents", "precision"), "{:.2f}"), ("recall", ("incidents", "recall"), "{:.2f}"),
           ("false /1k pts", ("incidents", "false_per_1000_points"), "{:.2f}"))


def run(command: list[str], log: Path) -> None:
    with log.open("a") as f:
        f.write("$ " + " ".join(command) + "\n")
        f.flush()
        started = time.monotonic()
        done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT)
        f.write(f"({time.monotonic() - started:.0f} s)\n")
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}; see {log}")


def job(name: str, seed: int, out: Path, reuse: bool, settings: list[str], backends: list[str],
        bundles: Path | None) -> dict[str, dict]:
    data, where = DATA / name, out / name / f"seed{seed}"
    where.mkdir(parents=True, exist_ok=True)
    log = where / "log.txt"
    bundle = (bundles or out) / name / f"seed{seed}" / "bundle"
    if not bundles and not (reuse and (bundle / "manifest.json").exists()):
        run([*CLI, "train", str(data), "--out", str(where / "model.keras"), "--head", "probation", "--standardise",
             "--difference", "--quiet", "--seed", str(seed)], log)  # train's default budget: what ships
        run([*CLI, "convert", str(where / "model.keras"), "--out", str(bundle), "--force", "--quiet", "--check",
             "numpy,numba-f32"], log)  # (int8 vs float: the table)
    summaries = {}
    for backend in backends:
        target = where / backend
        run([*CLI, "evaluate", str(data), "--windows", str(data / "combined_windows.json"), "--bundle", str(bundle),
             "--out", str(target), "--backend", backend, "--standardise", "probation", "--no-plots", "--quiet",
             *[a for s in settings for a in ("--set", s)]], log)
        summaries[backend] = json.loads((target / "summary.json").read_text())
    return summaries


def pick(summary: dict, path: tuple[str, ...]) -> float:
    for key in path:
        summary = summary[key]
    return float(summary)


def table(results: dict[str, dict[int, dict[str, dict]]], backend: str = "numba-int8") -> str:
    """Each set's figures through ``backend`` (mean and range over the seeds), and int8 - f32 where both ran."""
    head = "| set | " + " | ".join(c[0] for c in COLUMNS) + " | int8 - f32 (NAB, F1) | published |"
    lines = [head, "|---|" + "---:|" * len(COLUMNS) + "---:|---|"]
    for name, seeds in results.items():
        cells = []
        for _, path, fmt in COLUMNS:
            values = [pick(s[backend], path) for s in seeds.values()]
            mean = sum(values) / len(values)
            cells.append(f"{fmt.format(mean)} ({fmt.format(min(values))}–{fmt.format(max(values))})")
        gap = "n/a"
        if all("numba-int8" in s and "numba-f32" in s for s in seeds.values()):
            gaps = [max(abs(pick(s["numba-int8"], path) - pick(s["numba-f32"], path)) for s in seeds.values())
                    for path in (COLUMNS[0][1], COLUMNS[1][1])]
            gap = f"{gaps[0]:.1f}, {gaps[1]:.2f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {gap} | {ANCHORS.get(name, '')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="nab-dev,smap,ucr-dev")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default="build/evaluate")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep bundles already trained")
    parser.add_argument("--bundles", type=Path, help="evaluate the bundles an earlier run trained under this folder")
    parser.add_argument("--backends", default="numba-int8,numba-f32", help="the first gives the table's figures")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a detector setting")
    args = parser.parse_args()
    out, sets, seeds = Path(args.out), args.sets.split(","), [int(s) for s in args.seeds.split(",")]
    started = time.monotonic()
    # The largest sets first, so that the two workers finish together.
    longest_first = sorted(sets, key=lambda s: -sum(f.stat().st_size for f in (DATA / s).rglob("*.csv")))
    todo = [(name, seed) for name in longest_first for seed in seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {key: pool.submit(job, *key, out, args.reuse, args.set, args.backends.split(","), args.bundles)
                   for key in todo}
        results = {name: {seed: futures[(name, seed)].result() for seed in seeds} for name in sets}
    backend = args.backends.split(",")[0]
    text = (f"{len(sets)} sets x {len(seeds)} seeds (mean, range over seeds; {backend}; the daemon's defaults"
            f"{'; settings ' + ' '.join(args.set) if args.set else ''}) in {(time.monotonic() - started) / 60:.1f} "
            f"min\n\n{table(results, backend)}\n")
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
