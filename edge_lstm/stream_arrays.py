"""Per-stream state kept as NumPy arrays named in ``FIELDS`` (one row per stream): grown for new streams,
copied out for checkpoints. Pure."""

from __future__ import annotations

import numpy as np


class StreamArrays:
    """A base for objects whose per-stream state is the arrays named in ``FIELDS`` (one row per stream)."""

    FIELDS: tuple[str, ...] = ()

    @staticmethod
    def _empty(name: str) -> float:
        """What array ``name`` holds for a stream that has seen nothing (0 unless a subclass says otherwise)."""
        return 0

    def grow(self, capacity: int) -> None:
        """Room for ``capacity`` streams; the new rows empty (``_empty``)."""
        rows = getattr(self, self.FIELDS[0]).shape[0]
        if capacity <= rows:
            return
        for name in self.FIELDS:
            old = getattr(self, name)
            new = np.full((capacity, *old.shape[1:]), self._empty(name), old.dtype)
            new[:rows] = old
            setattr(self, name, new)

    def state(self) -> dict[str, np.ndarray]:
        """A copy of every array in ``FIELDS``."""
        return {name: getattr(self, name).copy() for name in self.FIELDS}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Take back what :meth:`state` gave (each array in its own dtype)."""
        for name in self.FIELDS:
            setattr(self, name, np.array(state[name], dtype=getattr(self, name).dtype))
