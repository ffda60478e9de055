"""Two versions of a kernel in one process, timed in alternation: this tree's and another tree's (a git worktree).

On a shared host whose speed drifts 1.5-2x within an hour, separate runs of ``edge-lstm bench`` move more between
runs than between versions. Here the other tree's ``edge_lstm`` is copied under another package name
(``edge_lstm_b``, its imports rewritten), both load the same bundle on the same backend, and each round times one
batch of steps of each, best of the rounds, so a drift hits both alike. Both must give the same outputs to float32
rounding of the model's outputs (printed).

    git worktree add /tmp/before HEAD~1
    python benchmarks/kernel_ab.py BUNDLE /tmp/before [--backend numba-int8] [--streams 1,1000] [--rounds 30] [--rows]
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def other_package(tree: Path, workdir: Path):
    """``tree``'s edge_lstm, imported as ``edge_lstm_b`` from a copy under ``workdir``."""
    target = workdir / "edge_lstm_b"
    shutil.copytree(tree / "edge_lstm", target, ignore=shutil.ignore_patterns("__pycache__"))
    name = re.compile(r"\bedge_lstm\b")
    for path in target.rglob("*.py"):
        path.write_text(name.sub("edge_lstm_b", path.read_text()))
    sys.path.insert(0, str(workdir))
    return importlib.import_module("edge_lstm_b")


def best_of(step, rounds_per_batch: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds_per_batch):
        step()
    return (time.perf_counter() - started) / rounds_per_batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("other", type=Path, help="the other tree (its edge_lstm/ is timed as 'other')")
    parser.add_argument("--backend", default="numba-int8")
    parser.add_argument("--streams", default="1,1000")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--rows", action="store_true", help="step the streams by index, as the daemon does")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    import edge_lstm

    with tempfile.TemporaryDirectory(prefix="kernel-ab-") as tmp:
        other = other_package(args.other.resolve(), Path(tmp))
        versions = {"this": edge_lstm, "other": other}
        for n in (int(s) for s in args.streams.split(",")):
            banks = {k: m.load(args.bundle, args.backend).streams(n) for k, m in versions.items()}
            x = np.random.default_rng(0).normal(0, 1, (n, banks["this"].model.features)).astype(np.float32)
            rows = np.arange(n) if args.rows else None
            outs = {k: [bank.step(x, rows) for _ in range(50)][-1] for k, bank in banks.items()}
            spread = float(np.abs(outs["this"]).max()) or 1.0
            batch = max(1, 20_000 // n)
            best = {k: float("inf") for k in banks}
            for _ in range(args.rounds):
                for k, bank in banks.items():
                    best[k] = min(best[k], best_of(lambda bank=bank, x=x, rows=rows: bank.step(x, rows), batch))
            diff = float(np.abs(outs["this"] - outs["other"]).max()) / spread
            print(f"{n:>6} streams  this {best['this'] * 1e6:9.2f} us ({n / best['this'] / 1e6:.2f} M/s)   "
                  f"other {best['other'] * 1e6:9.2f} us ({n / best['other'] / 1e6:.2f} M/s)   "
                  f"this/other {best['this'] / best['other']:.3f}   outputs differ by {diff:.1e} of their largest")


if __name__ == "__main__":
    main()
