"""A per-stream correction of the shared model's one-step forecast, learned on the device. Pure NumPy/Numba.

One model serves every stream; each stream's own habits (an offset the model keeps making, a lag, a gain) show in
its errors. Every stream fits, by recursive least squares with forgetting factor ``forget``, the model's next error
from ``[model's forecast - value, value - previous value, 1]`` (in units of the stream's typical change), and the
forecast becomes the model's plus that predicted error. Errors beyond ``CLIP`` times the fit's own typical error are
learned clipped to it, so an incident does not teach the correction. A fresh stream starts with no correction.

>>> ro = Readout(forget=0.99, warmup=20, capacity=1)
>>> row = np.array([0])
>>> corrected = [ro.update(row, np.array([float(t)]), np.array([float(t) + 0.5]), np.array([True]))[0]
...              for t in range(200)]   # a model that always forecasts half a unit too high... and too late
>>> abs(corrected[-1] - 200.0) < 0.05     # the correction learned to forecast the next value, t + 1
True
"""

from __future__ import annotations

import numpy as np
from numba import njit

from edge_lstm.stream.arrays import StreamArrays

D = 3  # features of the correction
CLIP = 4.0  # errors learned at most this many typical fit errors
P0 = 100.0  # the initial inverse-covariance scale (a weak prior of no correction)


class Readout(StreamArrays):
    """Per-stream recursive least squares of the model's one-step error."""

    FIELDS = ("weights", "inverse", "phi", "model_forecast", "last_value", "scale", "fit_error", "count", "primed")

    def __init__(self, forget: float = 0.999, warmup: int = 50, capacity: int = 16) -> None:
        if not 0 < forget <= 1:
            raise ValueError(f"readout forget: must be in (0, 1], got {forget}")
        self.forget, self.warmup = float(forget), int(warmup)
        self.weights = np.zeros((capacity, D))
        self.inverse = np.zeros((capacity, D, D))  # RLS's P (set to P0 * I when a stream's first error is learned)
        self.phi = np.zeros((capacity, D))  # the features the last forecast was corrected with
        self.model_forecast = np.zeros(capacity)  # the model's own forecast of the next sample
        self.last_value = np.zeros(capacity)
        self.scale = np.zeros(capacity)  # mean |change| of the stream
        self.fit_error = np.zeros(capacity)  # mean |error| of the correction's fit
        self.count = np.zeros(capacity, np.int64)  # errors learned
        self.primed = np.zeros(capacity, bool)

    def update(self, idx: np.ndarray, value: np.ndarray, model_next: np.ndarray, judged: np.ndarray) -> np.ndarray:
        """Learn each sample's error of the model (where ``judged``), in order (a stream may repeat); return the
        corrected forecasts of the next samples."""
        out = np.array(model_next, np.float64)
        _update(np.ascontiguousarray(idx, np.int64), np.ascontiguousarray(value, np.float64),
                np.ascontiguousarray(model_next, np.float64), np.ascontiguousarray(judged, np.bool_), self.forget,
                self.warmup, self.weights, self.inverse, self.phi, self.model_forecast, self.last_value, self.scale,
                self.fit_error, self.count, self.primed, out)
        return out


@njit(cache=True)
def _update(idx, value, model_next, judged, forget, warmup, weights, inverse, phi, model_forecast, last_value, scale,
            fit_error, count, primed, out):
    for j in range(idx.size):
        i = idx[j]
        x, f = value[j], model_next[j]
        if not (np.isfinite(x) and np.isfinite(f)):
            continue
        if primed[i]:
            change = abs(x - last_value[i])
            scale[i] += max(0.01, 1.0 / (count[i] + 1)) * (change - scale[i])
        if judged[j] and primed[i] and scale[i] > 0:
            if count[i] == 0:
                for a in range(D):
                    for b in range(D):
                        inverse[i, a, b] = P0 if a == b else 0.0
            target = (x - model_forecast[i]) / scale[i]
            guess = 0.0
            for a in range(D):
                guess += weights[i, a] * phi[i, a]
            error = target - guess
            if count[i] >= warmup and fit_error[i] > 0:
                error = max(-CLIP * fit_error[i], min(CLIP * fit_error[i], error))
            fit_error[i] += max(0.01, 1.0 / (count[i] + 1)) * (abs(error) - fit_error[i])
            p_phi = np.zeros(D)
            for a in range(D):
                for b in range(D):
                    p_phi[a] += inverse[i, a, b] * phi[i, b]
            denominator = forget
            for a in range(D):
                denominator += phi[i, a] * p_phi[a]
            for a in range(D):
                weights[i, a] += p_phi[a] / denominator * error
            for a in range(D):
                for b in range(D):
                    inverse[i, a, b] = (inverse[i, a, b] - p_phi[a] * p_phi[b] / denominator) / forget
            count[i] += 1
        s = scale[i] if scale[i] > 0 else 1.0
        phi[i, 0] = (f - x) / s
        phi[i, 1] = (x - last_value[i]) / s if primed[i] else 0.0
        phi[i, 2] = 1.0
        correction = 0.0
        if count[i] >= warmup:
            for a in range(D):
                correction += weights[i, a] * phi[i, a]
        out[j] = f + s * correction
        model_forecast[i] = f
        last_value[i] = x
        primed[i] = True
