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
    spread: dict[int, float] = field(default_factory=dict)  # (slowest - fastest round) / median, per bank size

    def time(self, n: int, fn: Callable[[], Any], min_seconds: float) -> float:
        """Time ``fn`` (a step of ``n`` streams) into this row; returns its median seconds per call."""
        per_call, self.spread[n] = time_calls(fn, min_seconds)
        self.steps_per_s[n] = n / per_call
        if n == 1:
            self.us_per_sample = per_call * 1e6
        return per_call


#: A measurement whose rounds spread wider than this share of their median is flagged as noisy.
NOISY = 0.2


def time_calls(fn: Callable[[], Any], min_seconds: float = 0.25, rounds: int = 5) -> tuple[float, float]:
    """(median seconds per call, (slowest - fastest round) / median) over ``rounds`` batches of calls lasting
    ``min_seconds`` together."""
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
    median = statistics.median(samples)
    return median, (max(samples) - min(samples)) / median
