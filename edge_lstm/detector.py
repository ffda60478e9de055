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
from numba import njit


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
    incident_peak_z: np.ndarray  # the largest z of the incident so far
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
        """Score each residual against its stream ``idx[j]``, then learn from it, in order (a stream may repeat)."""
        cfg = self.config
        k = idx.size
        out = Update(*(np.empty(k) for _ in range(2)), *(np.empty(k, bool) for _ in range(3)),
                     *(np.empty(k) for _ in range(3)))
        _update(np.ascontiguousarray(idx, np.int64), np.ascontiguousarray(residual, np.float64),
                np.ascontiguousarray(ts, np.float64), self.count, self.mean, self.var, self.open, self.start,
                self.peak, self.calm, cfg.warmup, cfg.threshold, cfg.alpha, cfg.quiet, cfg.min_std,
                out.z, out.score, out.anomalous, out.opened, out.closed, out.incident_start, out.incident_peak_z,
                out.expected_std)
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


@njit(cache=True)
def _update(idx, residual, ts, count, mean, var, is_open, start, peak, calm, warmup, threshold, alpha, quiet,
            min_std, z_out, score_out, anomalous_out, opened_out, closed_out, start_out, peak_out, std_out):
    """The per-stream update of :meth:`Detector.update`, compiled (one call per batch of streams)."""
    for j in range(idx.size):
        i = idx[j]
        std = math.sqrt(max(var[i], min_std * min_std))
        warmed = count[i] >= warmup
        z = abs(residual[j] - mean[i]) / std if warmed else 0.0
        score = math.erf(z / math.sqrt(2.0))
        anomalous = warmed and z > threshold
        was_open = is_open[i]
        opened = anomalous and not was_open
        if opened:
            start[i] = ts[j]
        if anomalous:
            peak[i] = max(peak[i], z)
        c = 0 if anomalous else calm[i] + 1
        closed = was_open and c >= quiet
        z_out[j], score_out[j], anomalous_out[j], opened_out[j], closed_out[j] = z, score, anomalous, opened, closed
        start_out[j], peak_out[j], std_out[j] = start[i], peak[i], std
        now_open = (was_open or opened) and not closed
        is_open[i] = now_open
        calm[i] = c if now_open else 0
        if not now_open:
            peak[i] = 0.0
        # Learn: clip what exceeded the threshold, Welford while warming up, then EWMA.
        delta = residual[j] - mean[i]
        if warmed:
            limit = threshold * std
            delta = min(max(delta, -limit), limit)
        n = count[i] + 1
        weight = alpha if warmed else 1.0 / n
        mean[i] += weight * delta
        var[i] = (1.0 - weight) * (var[i] + weight * delta * delta)
        count[i] = n
