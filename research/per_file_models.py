"""Issue 22, item 6: one model per file, trained on that file's probation rows only (telemanom's way), against the
shared model of `make evaluate` (one per set, trained on every file's probation rows).

    python research/per_file_models.py --set smap --seeds 0,1,2 [--every 3] [--out build/per_file] [--jobs 2]

Each file gets its own folder (the CSV copied to its relative path, its probation and windows entries only), then
`edge-lstm train --head probation --standardise --difference` with make evaluate's budget, `convert`, and
`evaluate` through numba-int8 with the daemon's defaults. The event metrics are summed over the files as
`evaluate` sums them over a set (true and false incidents, windows detected). ``--every K`` takes every K-th file
(about a minute per file and seed here); ``--shared DIR`` also sums the same files' metrics from the summaries a
`tools/evaluate_sets.py` run left in DIR (the shared model), for the comparison on the same files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLI = [sys.executable, "-m", "edge_lstm"]
TRAINING = ["--epochs", "25", "--max-sequences", "600"]  # (tools/evaluate_sets.py's budget)


def one_file(data: Path, name: str, seed: int, out: Path) -> dict:
    where = out / Path(name).stem / f"seed{seed}"
    summary = where / "eval" / "summary.json"
    if not summary.exists():
        folder = where / "data"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if not (folder / name).exists():  # (a copy: train names files by their resolved path under the folder)
            shutil.copyfile(data / name, folder / name)
        for meta in ("probation.json", "combined_windows.json"):
            entries = json.loads((data / meta).read_text())
            (folder / meta).write_text(json.dumps({name: entries[name]} if name in entries else {}))
        log = (where / "log.txt").open("w")
        train = [*CLI, "train", str(folder), "--out", str(where / "model.keras"), "--head", "probation",
                 "--standardise", "--difference", "--quiet", "--seed", str(seed), *TRAINING]
        if subprocess.run(train, stdout=log, stderr=subprocess.STDOUT).returncode:  # (a few hundred rows to learn
            train += ["--window", "64", "--burn-in", "16"]                           # from: shorter sequences)
            log.write("retrying with --window 64\n")
            log.flush()
        for command in (
            train,
            [*CLI, "convert", str(where / "model.keras"), "--out", str(where / "bundle"), "--force", "--quiet",
             "--check", "numpy,numba-f32"],
            [*CLI, "evaluate", str(folder), "--windows", str(folder / "combined_windows.json"), "--bundle",
             str(where / "bundle"), "--out", str(where / "eval"), "--backend", "numba-int8", "--standardise",
             "probation", "--no-plots", "--quiet"]):
            if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode:
                raise SystemExit(f"failed: {' '.join(command)} (see {where / 'log.txt'})")
    return json.loads(summary.read_text())["incidents"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="smap")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=Path("build/per_file"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--shared", type=Path, help="the bundles and evaluations of tools/evaluate_sets.py")
    args = parser.parse_args()
    data = DATA / args.set
    names = sorted(json.loads((data / "probation.json").read_text()))[:: args.every]
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        with ThreadPoolExecutor(args.jobs) as pool:
            found = list(pool.map(lambda n, s=seed: one_file(data, n, s, args.out / args.set), names))
        tp, fp = sum(f["true"] for f in found), sum(f["false"] for f in found)
        windows, detected = sum(f["windows"] for f in found), sum(f["detected"] for f in found)
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = detected / windows if windows else 1.0
        f1 = _f1(tp, fp, detected, windows)
        rows.append((seed, f1, precision, recall, detected, windows, fp))
        print(f"{args.set} seed {seed}: F1 {f1:.3f} (precision {precision:.3f}, recall {recall:.3f}: {detected} of "
              f"{windows} windows, {fp} false incidents)", flush=True)
    f1s = [r[1] for r in rows]
    print(f"{args.set}, {len(names)} files, one model per file: F1 {sum(f1s) / len(f1s):.2f} "
          f"({min(f1s):.2f}-{max(f1s):.2f})")
    if args.shared:
        shared = []
        for seed in [int(s) for s in args.seeds.split(",")]:
            summary = json.loads((args.shared / args.set / f"seed{seed}" / "numba-int8" / "summary.json").read_text())
            files = [f for f in summary["files"] if f["name"] in names]
            shared.append(_f1(sum(f["true_incidents"] for f in files), sum(f["false_incidents"] for f in files),
                              sum(f["detected_windows"] for f in files), sum(f["windows"] for f in files)))
        print(f"{args.set}, the same {len(names)} files, the shared model: F1 {sum(shared) / len(shared):.2f} "
              f"({min(shared):.2f}-{max(shared):.2f})")


def _f1(tp: int, fp: int, detected: int, windows: int) -> float:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = detected / windows if windows else 1.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


if __name__ == "__main__":
    main()
