"""What a benchmark row holds, and how one call is timed: shared by ``edge-lstm bench`` and the converter's
windowed baselines (which need TensorFlow)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Row:
    """One backend's figures; ``None`` where not measured."""

    name: str
    kind: str  # "edge-lstm" or "baseline"
    us_per_sample: float | None = None
    steps_per_s: dict[int, float | None] = field(default_factory=dict)
    note: str = ""


def time_per_call(fn: Callable[[], Any], min_seconds: float = 0.25, rounds: int = 5) -> float:
    """Median seconds per call over ``rounds`` batches of calls lasting ``min_seconds`` together."""
    fn()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds / rounds or reps < 2:
        fn()
        reps += 1
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        samples.append((time.perf_counter() - t) / reps)
    return statistics.median(samples)
