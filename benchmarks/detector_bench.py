"""The detector's cost per sample: ``Detector.update`` over many streams, one sample each per call (as the engine
calls it), with the default views; what a change to the detector's compiled step is measured by. Timed after
``--after`` untimed samples per stream, so that every view is in the state a long-running stream's is (the pattern
view's long stage takes over at ``pattern_long_memory`` samples).

    python benchmarks/detector_bench.py --streams 1000 --steps 3000 [--after 6000] [--pattern-long-memory N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.detector import Detector


def run(streams: int, steps: int, after: int, config: DetectorConfig, seed: int = 0) -> float:
    """Microseconds per sample over ``steps`` rounds of ``streams`` samples (a sine with noise, forecast by its
    last value), after ``after`` rounds untimed (the first compiles)."""
    rng = np.random.default_rng(seed)
    detector = Detector(config, capacity=streams)
    idx = np.arange(streams)
    phase = rng.uniform(0, 2 * np.pi, streams)
    total = after + steps + 1
    started = 0.0
    for t in range(1, total):
        if t == after + 1:
            started = time.perf_counter()
        value = np.sin(t / 20.0 + phase) + 0.05 * rng.standard_normal(streams)
        detector.update(idx, value, np.sin((t - 1) / 20.0 + phase), np.full(streams, float(t)))
    return (time.perf_counter() - started) / (steps * streams) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--after", type=int, default=6000, help="untimed samples per stream first")
    ap.add_argument("--pattern-long-memory", type=int, default=DetectorConfig.pattern_long_memory)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    config = DetectorConfig(pattern_long_memory=args.pattern_long_memory)
    times = [run(args.streams, args.steps, args.after, config) for _ in range(args.repeats)]
    print(f"detector update: {min(times):.3f} us per sample (best of {args.repeats}; {args.streams} streams x "
          f"{args.steps} steps after {args.after}; pattern_long_memory {args.pattern_long_memory}; "
          f"all: {', '.join(f'{t:.3f}' for t in times)})")


if __name__ == "__main__":
    main()
