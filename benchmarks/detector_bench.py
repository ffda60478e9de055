"""The detector's cost per sample: ``Detector.update`` over many streams, one sample each per call (as the engine
calls it), with the default views; what a change to the detector's compiled step is measured by.

    python benchmarks/detector_bench.py --streams 1000 --steps 3000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.detector import Detector


def run(streams: int, steps: int, seed: int = 0) -> float:
    """Microseconds per sample over ``steps`` rounds of ``streams`` samples (a sine with noise, forecast by its
    last value), after one round to compile."""
    rng = np.random.default_rng(seed)
    detector = Detector(DetectorConfig(), capacity=streams)
    idx = np.arange(streams)
    phase = rng.uniform(0, 2 * np.pi, streams)
    values = np.sin(np.arange(steps + 1)[:, None] / 20.0 + phase) + 0.05 * rng.standard_normal((steps + 1, streams))
    detector.update(idx, values[0], values[0], np.zeros(streams))
    started = time.perf_counter()
    for t in range(1, steps + 1):
        detector.update(idx, values[t], values[t - 1], np.full(streams, float(t)))
    return (time.perf_counter() - started) / (steps * streams) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    times = [run(args.streams, args.steps) for _ in range(args.repeats)]
    print(f"detector update: {min(times):.3f} us per sample (best of {args.repeats}; "
          f"{args.streams} streams x {args.steps} steps; all: {', '.join(f'{t:.3f}' for t in times)})")


if __name__ == "__main__":
    main()
