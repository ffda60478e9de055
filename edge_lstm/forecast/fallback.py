"""Which forecaster to trust, per stream and per step ahead: the model, or the last value. Pure NumPy/Numba.

A model scaled for its training data can lose track of a stream that leaves that range (a level
shift to 20 spreads above anything it saw saturates its gates: it keeps forecasting the old
level). Every stream therefore keeps, for each step ahead k of the model's horizon, an exponentially
weighted mean of the squared error of the model's k-step forecast and of the last value's (the naive
forecast k steps ahead), and while the model's is more than ``ratio`` times the naive one's, step k of
the forecast published (and, for k = 1, scored and given intervals) is the last value. Each step is
judged on its own: a model that forecasts the next sample worse than the last value may still forecast
five ahead better. The model's state still advances on every sample, so it takes over again as soon as
it forecasts better.

A model that forecasts a level it no longer sees is replaced once its errors outweigh the naive ones:

>>> fb = Fallback(ratio=1.0, alpha=0.1, warmup=5, capacity=1)
>>> row = np.array([0])
>>> choices = []
>>> for t in range(30):
...     value = 0.0 if t < 10 else 20.0 + (t % 2)   # a level shift at t = 10
...     choices.append(bool(fb.update(row, np.array([value]), np.array([[0.0]]), np.array([True]))[0, 0]))
>>> choices[:10] == [False] * 10, choices[-1]
(True, True)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from edge_lstm.stream.arrays import StreamArrays


class Fallback(StreamArrays):
    """Per-stream, per-step squared-error averages of the model's and the last value's forecasts."""

    FIELDS = ("step_model_error", "step_last_error", "step_count", "recent_forecasts", "recent_values", "made")

    def __init__(self, ratio: float = 1.0, alpha: float = 0.02, warmup: int = 50, capacity: int = 16,
                 horizon: int = 1) -> None:
        if ratio < 0:
            raise ValueError(f"fallback ratio: must be zero (off) or positive, got {ratio}")
        if not 0 < alpha < 1:
            raise ValueError(f"fallback alpha: must be in (0, 1), got {alpha}")
        self.ratio, self.alpha, self.warmup, self.horizon = float(ratio), float(alpha), int(warmup), int(horizon)
        h = self.horizon
        self.step_model_error = np.zeros((capacity, h))  # mean squared error of the model's k-step forecasts
        self.step_last_error = np.zeros((capacity, h))  # ... of the last value's
        self.step_count = np.zeros((capacity, h), np.int64)  # errors learned per step
        self.recent_forecasts = np.zeros((capacity, h, h))  # the model's forecasts of the last h samples (a ring)
        self.recent_values = np.zeros((capacity, h))  # the value at each of them
        self.made = np.zeros(capacity, np.int64)  # forecasts recorded since the stream (re)started

    @property
    def count(self) -> np.ndarray:
        """Errors learned per stream (of the one-step forecasts)."""
        return self.step_count[:, 0]

    @property
    def model_error(self) -> np.ndarray:
        """Mean squared error of the model's one-step forecasts per stream."""
        return self.step_model_error[:, 0]

    def update(self, idx: np.ndarray, value: np.ndarray, model: np.ndarray, judged: np.ndarray) -> np.ndarray:
        """Learn each sample's errors (where ``judged``: the engine scores it), in order (a stream may repeat);
        ``model``: the model's forecasts made at the samples, (n, horizon). Return where each step of those
        forecasts should be the last value rather than the model's, (n, horizon)."""
        model = np.ascontiguousarray(np.asarray(model, np.float64).reshape(len(idx), self.horizon))
        out = np.zeros((idx.size, self.horizon), bool)
        _update(np.ascontiguousarray(idx, np.int64), np.ascontiguousarray(value, np.float64), model,
                np.ascontiguousarray(judged, np.bool_), self.ratio, self.alpha, self.warmup, self.step_model_error,
                self.step_last_error, self.step_count, self.recent_forecasts, self.recent_values, self.made, out)
        return out

    def active(self, idx: np.ndarray) -> np.ndarray:
        """Which of streams ``idx`` forecast the last value one step ahead now."""
        return ((self.ratio > 0) & (self.step_count[idx, 0] >= self.warmup)
                & (self.step_model_error[idx, 0] > self.ratio * self.step_last_error[idx, 0]))


@njit(cache=True)
def _update(idx, value, model, judged, ratio, alpha, warmup, model_error, last_error, count, recent, values, made,
            out):
    horizon = model.shape[1]
    for j in range(idx.size):
        i = idx[j]
        x = value[j]
        if not np.isfinite(x):
            continue
        if judged[j]:
            for k in range(min(horizon, made[i])):  # step k + 1 of the forecast made k + 1 samples ago
                slot = (made[i] - 1 - k) % horizon
                n = count[i, k] + 1
                weight = max(alpha, 1.0 / n)
                model_error[i, k] += weight * ((x - recent[i, slot, k]) ** 2 - model_error[i, k])
                last_error[i, k] += weight * ((x - values[i, slot]) ** 2 - last_error[i, k])
                count[i, k] = n
        for k in range(horizon):
            out[j, k] = ratio > 0.0 and count[i, k] >= warmup and model_error[i, k] > ratio * last_error[i, k]
        slot = made[i] % horizon
        for k in range(horizon):
            recent[i, slot, k] = model[j, k]
        values[i, slot] = x
        made[i] += 1
