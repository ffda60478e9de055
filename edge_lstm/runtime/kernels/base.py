"""What every step kernel provides: per-stream state rows and a batched step."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

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

    def step_all(self, state: np.ndarray, x: np.ndarray) -> np.ndarray:
        """:meth:`step` for every stream, from a caller that made ``x`` C-contiguous float32 of shape
        ``(n, features)`` (:meth:`edge_lstm.runtime.model.StreamBank.step`): a kernel may rely on it."""
        return self.step(state, x)

    def step_rows(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """:meth:`step` for streams ``rows``, from a caller that made ``rows`` C-contiguous int64, in range and
        distinct, and ``x`` C-contiguous float32 ``(rows.size, features)`` (StreamBank.step): a kernel may rely on
        it."""
        return self.step(state, x, rows)

    def run(self, state: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Feed ``xs`` of shape ``(n, T, features)`` through all n streams; return ``(n, T, outputs)``."""
        n, steps, _ = xs.shape
        out = np.empty((n, steps, self.spec.outputs), dtype=np.float32)
        for t in range(steps):
            out[:, t] = self.step(state, np.ascontiguousarray(xs[:, t]))
        return out


class CompiledStep:
    """A compiled kernel's batched step, ``fn(x, rows, use_rows, state, ops, w, wp, out, max_dim, max_gates)``
    returning -1 or the first non-finite sample's index (Numba). For every stream at once (:meth:`all`) it calls
    the machine code the dispatcher compiled, once known, without the dispatcher's type resolution (about 0.5 µs,
    a tenth of a one-stream step). That caller's arguments are of one type from call to call: ``x`` C-contiguous
    float32 (StreamBank made it so; a read-only one differs only in a flag the code, which only reads it, ignores),
    ``state`` the kernel's own rows, the rest fixed here."""

    def __init__(self, fn: Any, ops: np.ndarray, w: np.ndarray, wp: np.ndarray, max_dim: int, max_gates: int,
                 outputs: int) -> None:
        self.fn, self.ops, self.w, self.wp, self.max_dim, self.max_gates = fn, ops, w, wp, max_dim, max_gates
        self.outputs = outputs
        self._no_rows = np.zeros(0, dtype=np.int64)
        self._entry: Callable | None = None
        self._looked = False  # whether the machine code was looked for (once: a Numba that hides it costs nothing)
        self._rows_entry: Callable | None = None  # the same for a step by index (:meth:`rows`)
        self._rows_looked = False

    def __call__(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        out = np.empty((x.shape[0], self.outputs), dtype=np.float32)
        use_rows = rows is not None
        if self.fn(x, rows if use_rows else self._no_rows, use_rows, state, self.ops, self.w, self.wp, out,
                   self.max_dim, self.max_gates) >= 0:
            raise_non_finite(x)
        return out

    def all(self, state: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Every stream; ``x`` C-contiguous float32 ``(n, features)`` (:meth:`Kernel.step_all`)."""
        entry = self._entry
        if entry is None:
            out = self(state, x)
            if not self._looked:
                self._looked = True
                self._entry = _compiled_entry(self.fn, (x, self._no_rows, False, state, self.ops, self.w, self.wp,
                                                        out, self.max_dim, self.max_gates))
            return out
        # (written out, not shared with __call__: a helper call or an argument tuple cost 3-5% of a one-stream step)
        out = np.empty((x.shape[0], self.outputs), dtype=np.float32)
        if entry(x, self._no_rows, False, state, self.ops, self.w, self.wp, out, self.max_dim, self.max_gates) >= 0:
            raise_non_finite(x)
        return out

    def rows(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Streams ``rows`` (C-contiguous int64, in range, distinct) with ``x`` C-contiguous float32: the machine
        code for that type once known, as :meth:`all` (:meth:`Kernel.step_rows`)."""
        entry = self._rows_entry
        if entry is None:
            out = self(state, x, rows)
            if not self._rows_looked:
                self._rows_looked = True
                self._rows_entry = _compiled_entry(self.fn, (x, rows, True, state, self.ops, self.w, self.wp, out,
                                                             self.max_dim, self.max_gates))
            return out
        out = np.empty((x.shape[0], self.outputs), dtype=np.float32)
        if entry(x, rows, True, state, self.ops, self.w, self.wp, out, self.max_dim, self.max_gates) >= 0:
            raise_non_finite(x)
        return out


def _compiled_entry(dispatcher: Any, args: tuple) -> Callable | None:
    """The machine code a Numba dispatcher compiled for ``args``' types, or None where Numba keeps it elsewhere."""
    try:
        from numba import typeof

        found = dispatcher.overloads.get(tuple(typeof(a) for a in args))
        return None if found is None else found.entry_point
    except (AttributeError, TypeError, ValueError):
        return None


def raise_non_finite(x: np.ndarray, name: str = "x") -> None:
    """Raise the ValueError for the first NaN/inf in ``x``."""
    bad = np.argwhere(~np.isfinite(x))[0].tolist()
    raise ValueError(f"{name} contains NaN or inf (first at index {bad}); state left unchanged")
