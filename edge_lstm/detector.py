"""Anomaly scoring of forecast residuals, for many streams at once. Pure NumPy; no I/O.

Each stream keeps a running estimate of its one-step forecast residual's mean and spread
(Welford's average during warm-up, then an exponentially weighted one). A residual's score is
``erf(z / sqrt 2)`` of its z-value (0: as expected, towards 1: never seen), and a stream is
anomalous while ``z`` exceeds the threshold. Residuals beyond the threshold update the estimate
only clipped to it, so an incident does not teach the detector that incidents are normal.
Incidents are debounced: one opens at the first anomalous sample after warm-up and closes after
``quiet`` consecutive normal samples, so a burst of anomalous samples is one incident.

>>> d = Detector(DetectorConfig(warmup=5, threshold=4.0))
>>> idx = np.array([0])
>>> for r in [0.1, -0.1, 0.05, -0.05, 0.0, 0.08]:
...     _ = d.update(idx, np.array([r]), np.array([0.0]))
>>> out = d.update(idx, np.array([5.0]), np.array([1.0]))
>>> bool(out.opened[0]), bool(out.score[0] > 0.99)
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetectorConfig:
    warmup: int = 50  # residuals seen before a stream may raise anomalies
    threshold: float = 5.0  # z-value above which a sample is anomalous
    alpha: float = 0.01  # weight of a new residual once warmed up
    quiet: int = 10  # normal samples that close an incident
    min_std: float = 1e-6  # floor on the residual spread (a flat signal is not infinitely surprising)


@dataclass
class Update:
    """Per-sample results of :meth:`Detector.update`, aligned with its inputs."""

    z: np.ndarray
    score: np.ndarray
    anomalous: np.ndarray
    opened: np.ndarray  # an incident opened at this sample
    closed: np.ndarray  # an incident closed at this sample (its start: ``incident_start``)
    incident_start: np.ndarray
    incident_peak: np.ndarray
    expected_std: np.ndarray


class Detector:
    """Residual statistics and incident state for a growable set of streams."""

    FIELDS = ("count", "mean", "var", "open", "start", "peak", "calm")

    def __init__(self, config: DetectorConfig, capacity: int = 16) -> None:
        self.config = config
        self.threshold_score = math.erf(config.threshold / math.sqrt(2.0))
        self.count = np.zeros(capacity, np.int64)
        self.mean = np.zeros(capacity)
        self.var = np.zeros(capacity)
        self.open = np.zeros(capacity, bool)
        self.start = np.zeros(capacity)
        self.peak = np.zeros(capacity)
        self.calm = np.zeros(capacity, np.int64)

    @property
    def capacity(self) -> int:
        return self.count.size

    def grow(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        for name in self.FIELDS:
            old = getattr(self, name)
            new = np.zeros(capacity, old.dtype)
            new[: old.size] = old
            setattr(self, name, new)

    def reset(self, idx: np.ndarray) -> None:
        """Forget streams ``idx`` (after a gap or a state reset): they warm up again."""
        for name in self.FIELDS:
            getattr(self, name)[idx] = 0

    def std(self, idx: np.ndarray) -> np.ndarray:
        return np.sqrt(np.maximum(self.var[idx], self.config.min_std**2))

    def update(self, idx: np.ndarray, residual: np.ndarray, ts: np.ndarray) -> Update:
        """Score one residual for each stream in ``idx`` (distinct), then learn from it."""
        cfg = self.config
        warmed = self.count[idx] >= cfg.warmup
        std = self.std(idx)
        z = np.abs(residual - self.mean[idx]) / std
        z = np.where(warmed, z, 0.0)
        score = np.vectorize(math.erf, otypes=[float])(z / math.sqrt(2.0)) if z.size else z
        anomalous = warmed & (z > cfg.threshold)

        was_open = self.open[idx]
        opened = anomalous & ~was_open
        self.start[idx] = np.where(opened, ts, self.start[idx])
        self.peak[idx] = np.where(anomalous, np.maximum(self.peak[idx], score), self.peak[idx])
        calm = np.where(anomalous, 0, self.calm[idx] + 1)
        closed = was_open & (calm >= cfg.quiet)
        out = Update(z, score, anomalous, opened, closed, self.start[idx].copy(), self.peak[idx].copy(), std)
        self.open[idx] = (was_open | opened) & ~closed
        self.calm[idx] = np.where(self.open[idx], calm, 0)
        self.peak[idx] = np.where(self.open[idx], self.peak[idx], 0.0)

        # Learn: clip what exceeded the threshold, Welford while warming up, then EWMA.
        limit = cfg.threshold * std
        learn = np.where(warmed, np.clip(residual - self.mean[idx], -limit, limit) + self.mean[idx], residual)
        n = self.count[idx] + 1
        weight = np.where(warmed, cfg.alpha, 1.0 / n)
        delta = learn - self.mean[idx]
        self.mean[idx] += weight * delta
        self.var[idx] = (1.0 - weight) * (self.var[idx] + weight * delta**2)
        self.count[idx] = n
        return out

    def close_all(self, idx: np.ndarray) -> np.ndarray:
        """Close any open incident of streams ``idx`` (on shutdown); return which were open."""
        was = self.open[idx].copy()
        self.open[idx] = False
        return was

    def state(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).copy() for name in self.FIELDS}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for name in self.FIELDS:
            setattr(self, name, np.array(state[name], dtype=getattr(self, name).dtype))
