"""Per-stream standardisation: one definition shared by training, serving and evaluation. Pure.

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
