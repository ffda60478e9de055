"""Per-stream state kept as NumPy arrays named in ``FIELDS`` (one row per stream): grown for new streams,
emptied for restarted ones, copied out for checkpoints. Pure."""

from __future__ import annotations

import numpy as np


class StreamArrays:
    """A base for objects whose per-stream state is the arrays named in ``FIELDS`` (one row per stream)."""

    FIELDS: tuple[str, ...] = ()
    KEPT_ON_RESET: tuple[str, ...] = ()  # fields a restarted stream keeps
    DERIVED: tuple[str, ...] = ()  # fields not in a checkpoint: :meth:`_derive` makes them from the rest on load
    RESTORED_TOGETHER: tuple[tuple[str, ...], ...] = ()  # groups a checkpoint restores whole or not at all

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

    def reset(self, idx: np.ndarray) -> None:
        """Forget streams ``idx`` (after a gap): their rows empty again, but for ``KEPT_ON_RESET``."""
        for name in self.FIELDS:
            if name not in self.KEPT_ON_RESET:
                getattr(self, name)[idx] = self._empty(name)

    def compact(self, keep: np.ndarray, n: int) -> None:
        """Rows ``keep`` (ascending) move to the front, in order; the rest of the first ``n`` rows empty (the
        streams that were there are forgotten, as new ones)."""
        for name in self.FIELDS:
            compact_rows(getattr(self, name), keep, n, self._empty(name))

    def state(self) -> dict[str, np.ndarray]:
        """A copy of every array in ``FIELDS`` but the ``DERIVED`` ones."""
        return {name: getattr(self, name).copy() for name in self.FIELDS if name not in self.DERIVED}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Take back what :meth:`state` gave (each array in its own dtype); then :meth:`_derive` the rest."""
        for name in self.FIELDS:
            if name not in self.DERIVED:
                setattr(self, name, np.array(state[name], dtype=getattr(self, name).dtype))
        self._derive()

    def _derive(self) -> None:
        """Make the ``DERIVED`` arrays from the others (nothing unless a subclass has some)."""

    def restore_rows(self, saved: dict[str, np.ndarray], n: int) -> None:
        """Take the first ``n`` rows from a checkpoint's arrays (by field name). A field missing there, or with rows
        sized otherwise (an older version; a memory sized by a setting that changed since), starts empty, and so
        does every field of a ``RESTORED_TOGETHER`` group with such a member."""
        state = self.state()
        restored = set()
        for name, array in state.items():
            kept = saved.get(name)
            if kept is not None and kept.shape[1:] == array.shape[1:]:
                array[:n] = kept
                restored.add(name)
        for group in self.RESTORED_TOGETHER:
            if not restored.issuperset(group):
                for name in group:
                    state[name][:n] = self._empty(name)
        self.load_state(state)


def compact_rows(array: np.ndarray, keep: np.ndarray, n: int, empty: float) -> None:
    """In place: rows ``keep`` (ascending) of ``array`` move to the front, in order; the rest of its first ``n``
    rows are set to ``empty``."""
    array[: keep.size] = array[keep]
    array[keep.size : n] = empty
