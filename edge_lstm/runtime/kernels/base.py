"""What every step kernel provides: per-stream state rows and a batched step."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from edge_lstm.runtime.bundle import Bundle


class Kernel(ABC):
    """Advances many independent streams of one model by one sample at a time.

    State lives in a float32 array of shape ``(n_streams, spec.state_size)``: one row per stream,
    laid out as ``spec.state_slots`` says. Kernels that keep a quantised state override
    :meth:`new_state`, :meth:`export_state` and :meth:`import_state`.
    """

    name: str = "?"
    #: True when :meth:`step` itself refuses non-finite samples before touching any state.
    checks_finite: bool = False

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.spec = bundle.spec

    def new_state(self, n: int) -> np.ndarray:
        """Zero state for ``n`` streams."""
        return np.zeros((n, self.spec.state_size), dtype=np.float32)

    def export_state(self, state: np.ndarray) -> np.ndarray:
        """The state as float32 rows in the canonical layout (a copy)."""
        return np.array(state, dtype=np.float32, copy=True)

    def import_state(self, rows: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`export_state`."""
        return np.ascontiguousarray(rows, dtype=np.float32).copy()

    def reset_rows(self, state: np.ndarray, rows: np.ndarray | slice) -> None:
        """Return the given streams to the zero state."""
        state[rows] = 0

    @abstractmethod
    def step(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Advance streams by one sample.

        ``x`` is float32 ``(k, features)``; ``rows`` (int64, length k) says which state rows the
        k samples belong to, or None for all rows in order. Returns ``(k, outputs)`` float32.
        """

    def run(self, state: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Feed ``xs`` of shape ``(n, T, features)`` through all n streams; return ``(n, T, outputs)``."""
        n, steps, _ = xs.shape
        out = np.empty((n, steps, self.spec.outputs), dtype=np.float32)
        for t in range(steps):
            out[:, t] = self.step(state, np.ascontiguousarray(xs[:, t]))
        return out


def raise_non_finite(x: np.ndarray, name: str = "x") -> None:
    """Raise the ValueError for the first NaN/inf in ``x``."""
    bad = np.argwhere(~np.isfinite(x))[0].tolist()
    raise ValueError(f"{name} contains NaN or inf (first at index {bad}); state left unchanged")
