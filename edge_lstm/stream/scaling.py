"""Per-stream standardisation: one definition shared by training, serving and evaluation, and the engine's
per-stream scaling (:class:`StreamScaling`). Pure.

>>> offset, scale = standard_scaling(np.array([[1.0, 5.0], [3.0, 5.0]]))
>>> offset.tolist(), scale.tolist()
([2.0, 5.0], [1.0, 1.0])

With differencing (``edge-lstm train --difference``) a model sees each sample's change from the one
before, over the spread of those changes in the first N samples, and forecasts the change ahead:

>>> offset, scale = difference_scaling(np.array([[1.0], [3.0], [1.0], [3.0]]))
>>> offset.tolist(), scale.tolist(), changes(np.array([[1.0], [3.0], [2.0]])).ravel().tolist()
([0.0], [2.0], [0.0, 2.0, -1.0])
"""

from __future__ import annotations

import numpy as np

from edge_lstm.stream.arrays import StreamArrays


def standard_scaling(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per column of ``values`` (L, F); a constant column gets scale 1 (only its mean is removed).
    A model sees ``(x - mean) / scale``."""
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std > 0, std, 1.0)


def changes(values: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """Each row of ``values`` (L, F) minus the row before (the first: minus ``previous``, or 0 without one)."""
    before = values[:1] if previous is None else np.asarray(previous, values.dtype)[None]
    return np.diff(values, axis=0, prepend=before)


def difference_scaling(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(0, spread of the changes) per column of ``values`` (L, F): the spread is the root mean square of the
    sample-to-sample changes (1 for a constant column). A differencing model sees ``change / scale``."""
    step = np.diff(values, axis=0)
    spread = np.sqrt(np.mean(step**2, axis=0)) if len(step) else np.zeros(values.shape[1])
    return np.zeros(values.shape[1]), np.where(spread > 0, spread, 1.0)


class StreamScaling(StreamArrays):
    """What each stream's model sees: its samples scaled by its first ``standardise`` samples (``difference``: their
    changes, over the changes' spread), and the way back to the stream's units for forecasts and spreads."""

    FIELDS = ("offset", "scale", "calibrated", "previous", "has_previous")

    def __init__(self, features: int, standardise: int, difference: bool, target: int, capacity: int) -> None:
        self.standardise, self.difference, self.target = standardise, difference, target
        self.offset = np.zeros((capacity, features), np.float32)  # what the model sees: (value - offset) / scale
        self.scale = np.ones((capacity, features), np.float32)
        self.calibrated = np.zeros(capacity, bool)  # offset and scale are known
        self.previous = np.zeros((capacity, features))  # the last sample stepped (``difference``: changes from it)
        self.has_previous = np.zeros(capacity, bool)

    @staticmethod
    def _empty(name: str) -> float:
        return 1.0 if name == "scale" else 0

    def reset(self, idx: np.ndarray) -> None:
        """Streams ``idx`` start over: their next change is from nothing (their scaling is kept)."""
        self.has_previous[idx] = False

    def learn(self, index: int, values: np.ndarray) -> None:
        """Stream ``index``'s scaling from its first samples ``values`` (N, features)."""
        self.offset[index], self.scale[index] = (difference_scaling if self.difference else standard_scaling)(values)
        self.calibrated[index] = True

    def scaled(self, x: np.ndarray, idx: np.ndarray, sequence: bool = False) -> np.ndarray:
        """What the model sees of samples ``x`` of streams ``idx`` (``sequence``: consecutive samples of one
        stream, else one sample each of distinct streams)."""
        if not self.standardise:
            return x
        if self.difference:  # the change from the sample before (0 for a stream's first)
            if sequence:
                row = idx[0]
                x = changes(x.astype(np.float64), self.previous[row] if self.has_previous[row] else None)
            else:
                x = np.where(self.has_previous[idx, None], x - self.previous[idx], 0.0)
        with np.errstate(over="ignore", invalid="ignore"):  # (overflows are found and dropped by the caller)
            return np.ascontiguousarray((x - self.offset[idx]) / self.scale[idx], dtype=np.float32)

    def stepped(self, idx: np.ndarray | int, x: np.ndarray) -> None:
        """Streams ``idx`` were stepped with samples ``x``: the next changes are from them."""
        self.previous[idx], self.has_previous[idx] = x, True

    def model_units(self, values: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Target-feature values of streams ``idx`` as the model sees them (standardised), for the detector:
        its judgement then does not depend on the sensor's units (its floors on spreads are absolute)."""
        if not self.standardise:
            return values
        return (values - self.offset[idx, self.target]) / self.scale[idx, self.target]

    def in_units(self, spread: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """A spread the detector measured in model units, back in the stream's units."""
        if not self.standardise:
            return spread
        return spread * self.scale[idx, self.target]

    def unscaled(self, series: np.ndarray, idx: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Forecasts of the target feature back in the stream's units (``value``: the sample each was made at;
        with ``difference`` the model forecasts the change from it)."""
        if not self.standardise:
            return series
        base = value[:, None] if self.difference else self.offset[idx, self.target, None]
        return series * self.scale[idx, self.target, None] + base
