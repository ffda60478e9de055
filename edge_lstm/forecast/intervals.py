"""Calibrated forecast intervals: per stream and horizon step, the empirical quantiles of the
forecast error, learned online. Pure NumPy/Numba; no I/O.

Every forecast is remembered until its last step comes due; when a sample arrives, the error of
each remembered forecast's step for that sample (``value - forecast``) moves that step's lower and
upper quantile estimates by stochastic approximation (``q += rate * scale * (tau - [error < q])``,
``scale`` the stream's residual spread), which settles where a fraction ``tau`` of errors fall
below ``q``. The estimates start, after ``warmup`` errors, from the normal band
``± z * scale * sqrt(step)``.

Skewed errors (the normal band would be symmetric, and wrong on both sides):

>>> iv = Intervals(horizon=1, z=1.96, capacity=1)
>>> rng = np.random.default_rng(0)
>>> inside = []
>>> for t in range(6000):
...     lo, hi = iv.bounds(np.array([0]))
...     value = rng.exponential(1.0) - 1.0
...     if t >= 3000:
...         inside.append(lo[0, 0] <= value <= hi[0, 0])
...     _ = iv.update(np.array([0]), np.array([value]), np.zeros((1, 1)), np.array([1.0]))
>>> bool(0.93 < np.mean(inside) < 0.97), bool(-1.0 < lo[0, 0] < -0.9), bool(2.4 < hi[0, 0] < 3.4)
(True, True, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from edge_lstm.stream.arrays import StreamArrays


@dataclass
class Bounds:
    """Interval offsets around forecasts, per sample of an :meth:`Intervals.update`."""

    before_lo: np.ndarray  # (k,): the one-step band the sample was forecast with
    before_hi: np.ndarray
    after_lo: np.ndarray  # (k, horizon): the band of the forecast made from the sample
    after_hi: np.ndarray
    calibrated: np.ndarray  # (k,): that band's first step has learned from ``warmup`` of the stream's errors


class Intervals(StreamArrays):
    """Lower and upper error quantiles per stream and horizon step, for a growable set of streams."""

    FIELDS = ("past", "lo", "hi", "count")

    def __init__(self, horizon: int, z: float = 1.96, rate: float = 0.05, warmup: int = 50,
                 capacity: int = 16) -> None:
        self.horizon, self.z, self.rate, self.warmup = horizon, z, rate, warmup
        coverage = math.erf(z / math.sqrt(2.0))
        self.tau_lo, self.tau_hi = (1 - coverage) / 2, (1 + coverage) / 2
        self.past = np.full((capacity, horizon, horizon), np.nan)  # forecasts made 1..H samples ago
        self.lo = np.zeros((capacity, horizon))
        self.hi = np.zeros((capacity, horizon))
        self.count = np.zeros((capacity, horizon), np.int64)

    @property
    def coverage(self) -> float:
        return self.tau_hi - self.tau_lo

    @staticmethod
    def _empty(name: str) -> float:
        return np.nan if name == "past" else 0

    def bounds(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) offsets to add to the current forecasts of streams ``idx``, shape (k, horizon)."""
        return self.lo[idx].copy(), self.hi[idx].copy()

    def update(self, idx: np.ndarray, value: np.ndarray, forecast: np.ndarray, scale: np.ndarray,
               learn: np.ndarray | None = None) -> Bounds:
        """Samples ``value`` of streams ``idx`` arrived (in order; a stream may repeat); then the model
        forecast ``forecast`` (k, horizon) from them. ``scale``: each stream's residual spread;
        ``learn``: False for samples whose errors must not move the quantiles (anomalies)."""
        learn = np.ones(idx.size, bool) if learn is None else np.ascontiguousarray(learn, bool)
        k = idx.size
        out = Bounds(np.empty(k), np.empty(k), np.empty((k, self.horizon)), np.empty((k, self.horizon)),
                     np.empty(k, bool))
        _update(np.ascontiguousarray(idx, np.int64), np.ascontiguousarray(value, np.float64),
                np.ascontiguousarray(forecast, np.float64), np.ascontiguousarray(scale, np.float64), self.past,
                learn, self.lo, self.hi, self.count, self.tau_lo, self.tau_hi, self.z, self.rate, self.warmup,
                out.before_lo, out.before_hi, out.after_lo, out.after_hi, out.calibrated)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Take back :meth:`state`'s rows into the arrays as they are (a checkpoint may hold fewer streams)."""
        for name in self.FIELDS:
            getattr(self, name)[: len(state[name])] = state[name]


@njit(cache=True)
def _update(idx, value, forecast, scale, past, learn, lo, hi, count, tau_lo, tau_hi, z, rate, warmup, before_lo,
            before_hi, after_lo, after_hi, calibrated):
    horizon = past.shape[1]
    for j in range(idx.size):
        i = idx[j]
        before_lo[j], before_hi[j] = lo[i, 0], hi[i, 0]
        for k in range(horizon):
            f = past[i, k, k]  # the forecast made k+1 samples ago, its step k+1: for this sample
            if math.isnan(f) or not learn[j]:
                continue
            error = value[j] - f
            n = count[i, k] + 1
            count[i, k] = n
            if n <= warmup:  # until then: the normal band of the current spread
                spread = z * scale[j] * math.sqrt(k + 1.0)
                lo[i, k], hi[i, k] = -spread, spread
                continue
            step = rate * scale[j] * math.sqrt(k + 1.0)
            lo[i, k] += step * (tau_lo - (1.0 if error < lo[i, k] else 0.0))
            hi[i, k] += step * (tau_hi - (1.0 if error < hi[i, k] else 0.0))
        for k in range(horizon - 1, 0, -1):
            for m in range(horizon):
                past[i, k, m] = past[i, k - 1, m]
        for m in range(horizon):
            past[i, 0, m] = forecast[j, m]
            after_lo[j, m], after_hi[j, m] = lo[i, m], hi[i, m]
        calibrated[j] = count[i, 0] >= warmup
