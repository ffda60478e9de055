"""Per-stream standardisation: one definition shared by training, serving and evaluation. Pure.

>>> offset, scale = standard_scaling(np.array([[1.0, 5.0], [3.0, 5.0]]))
>>> offset.tolist(), scale.tolist()
([2.0, 5.0], [1.0, 1.0])
"""

from __future__ import annotations

import numpy as np


def standard_scaling(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per column of ``values`` (L, F); a constant column gets scale 1 (only its mean is removed).
    A model sees ``(x - mean) / scale``."""
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std > 0, std, 1.0)
