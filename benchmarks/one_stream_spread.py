"""One stream's step time in separate processes: a kernel whose time depends on what memory a process happened to get
(denormals or NaN in padding lanes take x86's slow path) reads differently from process to process.

Each process loads the bundle, pins itself to one core, advances one stream (and, for comparison, 4 streams)
20,000 steps after a warm-up, and reports microseconds per step; the table gives each process and the spread
(slowest / fastest).

    python benchmarks/one_stream_spread.py BUNDLE [--backend numba-f32] [--processes 6] [--steps 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def measure(bundle: str, backend: str, streams: int, steps: int) -> float:
    import edge_lstm

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    model = edge_lstm.load(bundle, backend)
    bank = model.streams(streams)
    x = np.random.default_rng(0).normal(0, 1, (steps, streams, model.features)).astype(np.float32)
    for t in range(500):
        bank.step(x[t])
    started = time.perf_counter()
    for t in range(steps):
        bank.step(x[t])
    return (time.perf_counter() - started) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--backend", default="numba-f32")
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.bundle, args.backend, args.child, args.steps)))
        return
    rows = []
    for k in range(args.processes):
        times = []
        for streams in (1, 4):
            out = subprocess.run([sys.executable, __file__, args.bundle, "--backend", args.backend, "--steps",
                                  str(args.steps), "--child", str(streams)], capture_output=True, text=True, check=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
        rows.append(times)
        print(f"process {k}: 1 stream {times[0]:6.2f} us/step, 4 streams {times[1]:6.2f} us/step", flush=True)
    ones, fours = [r[0] for r in rows], [r[1] for r in rows]
    print(f"{args.backend}: 1 stream {min(ones):.2f}-{max(ones):.2f} us (spread {max(ones) / min(ones):.2f}x), "
          f"4 streams {min(fours):.2f}-{max(fours):.2f} us (spread {max(fours) / min(fours):.2f}x)")


if __name__ == "__main__":
    main()
