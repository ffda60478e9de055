"""What the relation view costs the engine: samples per second with it and without, side by side.

    python benchmarks/relation_cost.py [--bundle edge_lstm/demo/bundle] [--devices 300] [--steps 200] [--reps 3]

Devices of three channels (the load among them) each send one sample a step, as independently
publishing devices do; the engine runs with ``anomaly.context`` set and ``relation_block`` 0 and 32,
alternating, one fresh engine per run (the first run of each also compiles).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import edge_lstm
from edge_lstm.detect.operating import OperatingConfig
from edge_lstm.detect.relations import RelationConfig
from edge_lstm.stream.engine import Engine, EngineConfig
from edge_lstm.stream.sample import Sample


def run(model, names: list[str], values: np.ndarray, relation_block: int) -> float:
    config = EngineConfig(forecast_every=0, standardise=0, operating=OperatingConfig("motor_current"),
                          relation=RelationConfig(block=relation_block))
    engine = Engine(model, config, capacity=len(names))
    started = time.perf_counter()
    for step in range(values.shape[0]):
        engine.process([(name, Sample(float(step), (float(values[step, k]),))) for k, name in enumerate(names)])
    return values.size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="edge_lstm/demo/bundle")
    parser.add_argument("--backend", default="numba-int8")
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    model = edge_lstm.load(args.bundle, backend=args.backend)
    names = [f"d{i}/{c}" for i in range(args.devices) for c in ("motor_current", "vibration_rms", "bearing_temp")]
    values = np.random.default_rng(0).normal(size=(args.steps, len(names)))
    rates: dict[int, list[float]] = {0: [], 32: []}
    for _ in range(args.reps + 1):
        for block in rates:
            rates[block].append(run(model, names, values, block))
    for block, measured in rates.items():
        kept = measured[1:]  # the first run of each compiles
        print(f"relation_block {block:2d}: {min(kept):,.0f}-{max(kept):,.0f} samples/s")
    print(f"ratio (with / without, medians): {np.median(rates[32][1:]) / np.median(rates[0][1:]):.2f}")


if __name__ == "__main__":
    main()
