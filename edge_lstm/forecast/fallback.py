"""Which forecaster to trust, per stream: the model, or the last value. Pure NumPy/Numba; no I/O.

A model scaled for its training data can lose track of a stream that leaves that range (a level
shift to 20 spreads above anything it saw saturates its gates: it keeps forecasting the old
level). Every stream therefore keeps an exponentially weighted mean of the squared one-step error
of the model's forecast and of the last-value forecast (the naive one), and while the model's is
more than ``ratio`` times the naive one's, the forecast published, scored and given intervals is
the last value (held for every horizon step). The model's state still advances on every sample,
so it takes over again as soon as it forecasts better.

A model that forecasts a level it no longer sees is replaced once its errors outweigh the naive ones:

>>> fb = Fallback(ratio=1.0, alpha=0.1, warmup=5, capacity=1)
>>> row = np.array([0])
>>> choices = []
>>> for t in range(30):
...     value = 0.0 if t < 10 else 20.0 + (t % 2)   # a level shift at t = 10
...     choices.append(bool(fb.update(row, np.array([value]), np.array([0.0]), np.array([True]))[0]))
>>> choices[:10] == [False] * 10, choices[-1]
(True, True)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from edge_lstm.stream.arrays import StreamArrays


class Fallback(StreamArrays):
    """Per-stream squared-error averages of the model's and the last value's one-step forecasts."""

    FIELDS = ("model_error", "last_error", "count", "model_forecast", "last_value", "primed")

    def __init__(self, ratio: float = 1.0, alpha: float = 0.02, warmup: int = 50, capacity: int = 16) -> None:
        if ratio < 0:
            raise ValueError(f"fallback ratio: must be zero (off) or positive, got {ratio}")
        if not 0 < alpha < 1:
            raise ValueError(f"fallback alpha: must be in (0, 1), got {alpha}")
        self.ratio, self.alpha, self.warmup = float(ratio), float(alpha), int(warmup)
        self.model_error = np.zeros(capacity)  # mean squared error of the model's one-step forecasts
        self.last_error = np.zeros(capacity)  # ... of the last value's
        self.count = np.zeros(capacity, np.int64)  # errors learned
        self.model_forecast = np.zeros(capacity)  # the model's forecast of the next sample
        self.last_value = np.zeros(capacity)
        self.primed = np.zeros(capacity, bool)  # the two above hold a forecast of the next sample

    def update(self, idx: np.ndarray, value: np.ndarray, model_next: np.ndarray, judged: np.ndarray) -> np.ndarray:
        """Learn each sample's errors (where ``judged``: the engine scores it), in order (a stream may repeat);
        return where the forecast made at the sample should be the last value rather than ``model_next``."""
        out = np.zeros(idx.size, bool)
        _update(np.ascontiguousarray(idx, np.int64), np.ascontiguousarray(value, np.float64),
                np.ascontiguousarray(model_next, np.float64), np.ascontiguousarray(judged, np.bool_), self.ratio,
                self.alpha, self.warmup, self.model_error, self.last_error, self.count, self.model_forecast,
                self.last_value, self.primed, out)
        return out

    def active(self, idx: np.ndarray) -> np.ndarray:
        """Which of streams ``idx`` forecast the last value now."""
        return ((self.ratio > 0) & (self.count[idx] >= self.warmup)
                & (self.model_error[idx] > self.ratio * self.last_error[idx]))


@njit(cache=True)
def _update(idx, value, model_next, judged, ratio, alpha, warmup, model_error, last_error, count, model_forecast,
            last_value, primed, out):
    for j in range(idx.size):
        i = idx[j]
        x = value[j]
        if not np.isfinite(x):
            continue
        if judged[j] and primed[i]:
            n = count[i] + 1
            weight = max(alpha, 1.0 / n)
            model_error[i] += weight * ((x - model_forecast[i]) ** 2 - model_error[i])
            last_error[i] += weight * ((x - last_value[i]) ** 2 - last_error[i])
            count[i] = n
        out[j] = ratio > 0.0 and count[i] >= warmup and model_error[i] > ratio * last_error[i]
        model_forecast[i] = model_next[j]
        last_value[i] = x
        primed[i] = True
