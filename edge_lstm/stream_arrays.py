"""Per-stream state kept as NumPy arrays named in ``FIELDS``, copied out for checkpoints. Pure."""

from __future__ import annotations

import numpy as np


class StreamArrays:
    """A base for objects whose per-stream state is the arrays named in ``FIELDS`` (one row per stream)."""

    FIELDS: tuple[str, ...] = ()

    def state(self) -> dict[str, np.ndarray]:
        """A copy of every array in ``FIELDS``."""
        return {name: getattr(self, name).copy() for name in self.FIELDS}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Take back what :meth:`state` gave (each array in its own dtype)."""
        for name in self.FIELDS:
            setattr(self, name, np.array(state[name], dtype=getattr(self, name).dtype))
