"""The user-facing surface: ``load`` a bundle, open a bank of ``streams``, ``step`` or ``run``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge_lstm.runtime.bundle import Bundle, read_bundle
from edge_lstm.runtime.kernels import make_kernel
from edge_lstm.runtime.kernels.base import raise_non_finite
from edge_lstm.runtime.rows import check_rows, out_of_range

_FLOAT32 = np.dtype(np.float32)  # (one instance each: ``x.dtype is _FLOAT32`` is the cheap test)
_INT64 = np.dtype(np.int64)


def _indices(rows: int | np.ndarray | list[int]) -> np.ndarray:
    """Stream indices as a 1-D int64 array (not yet checked against a bank)."""
    if type(rows) is np.ndarray and rows.dtype is _INT64 and rows.ndim == 1:
        return rows
    idx = np.atleast_1d(np.asarray(rows))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"stream indices must be integers, got {idx.dtype}")
    return idx.astype(np.int64, copy=False).reshape(-1)


def _as_rows(rows: int | np.ndarray | list[int] | None, n: int) -> np.ndarray | None:
    if rows is None:
        return None
    idx = _indices(rows)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise out_of_range(idx, n)
    return idx


class StreamBank:
    """``n`` independent streams of one model, each carrying its own recurrent state."""

    def __init__(self, model: Model, n: int) -> None:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"a bank needs at least one stream, got n={n!r}")
        self.model = model
        self.n = int(n)
        self._kernel = model.kernel
        self._state = self._kernel.new_state(self.n)
        # the input a hot loop gives a kernel that checks finiteness itself: stepped with no other check
        self._ready_shape = (self.n, model.features) if self._kernel.checks_finite else None
        self._step_all = self._kernel.step_all
        self._step_rows = self._kernel.step_rows
        self._marks = np.zeros(self.n, np.uint8)  # (check_rows' scratch: which rows a step names)

    def __len__(self) -> int:
        return self.n

    def step(self, x: np.ndarray, streams: int | np.ndarray | list[int] | None = None) -> np.ndarray:
        """Advance streams by one sample and return their outputs.

        ``x`` has shape ``(n, features)`` (or ``(n,)`` for a one-feature model). With ``streams``
        (k distinct indices) only those streams advance, ``x`` then has k rows.
        """
        if (streams is None and type(x) is np.ndarray and x.shape == self._ready_shape and x.dtype is _FLOAT32
                and x.flags.c_contiguous):
            return self._step_all(self._state, x)
        if streams is None:
            # Kernels that check finiteness themselves (before touching state) skip the NumPy pass.
            x = self.model._check_input(x, (self.n,), "x", finite=not self._kernel.checks_finite)
            return self._step_all(self._state, x)  # (x is C-contiguous float32 (n, features) now)
        rows = _indices(streams)
        check_rows(rows, self.n, self._marks)
        if not (type(x) is np.ndarray and x.dtype is _FLOAT32 and x.shape == (rows.size, self.model.features)
                and x.flags.c_contiguous and self._kernel.checks_finite):
            x = self.model._check_input(x, (rows.size,), "x", finite=not self._kernel.checks_finite)
        if rows.flags.c_contiguous:  # (x is C-contiguous float32 now: step_rows may rely on both)
            return self._step_rows(self._state, x, rows)
        return self._kernel.step(self._state, x, rows)

    def advance(self, i: int, x: np.ndarray) -> np.ndarray:
        """Feed stream ``i`` a sequence of samples ``x`` (T, features) in one call; return (T, outputs).

        The same as T calls of :meth:`step` for that stream alone, without the per-call overhead.
        """
        if not 0 <= int(i) < self.n:
            raise IndexError(f"stream index {i} out of range for a bank of {self.n} streams")
        x = np.asarray(x)
        x = self.model._check_input(x, (x.shape[0],) if x.ndim else (0,), "x")
        return self._kernel.run(self._state[int(i) : int(i) + 1], x[None])[0]

    def reset(self, i: int | np.ndarray | list[int] | None = None) -> None:
        """Return all streams (or those indexed by ``i``) to the zero state."""
        rows = _as_rows(i, self.n)
        self._kernel.reset_rows(self._state, slice(None) if rows is None else rows)

    @property
    def state(self) -> dict[str, np.ndarray]:
        """A copy of every stream's state: ``{"<layer>/h": (n, units), "<layer>/c": ...}``."""
        rows = self._kernel.export_state(self._state)
        return {s.key: rows[:, s.offset : s.offset + s.size].copy() for s in self.model.spec.state_slots}

    @state.setter
    def state(self, value: dict[str, np.ndarray]) -> None:
        slots = self.model.spec.state_slots
        missing = {s.key for s in slots} - set(value)
        extra = set(value) - {s.key for s in slots}
        if missing or extra:
            raise KeyError(f"state keys do not match the model: missing {sorted(missing)}, unexpected {sorted(extra)}")
        rows = np.empty((self.n, self.model.spec.state_size), dtype=np.float32)
        for s in slots:
            arr = np.asarray(value[s.key])
            if arr.shape != (self.n, s.size):
                raise ValueError(f"state {s.key!r} must have shape {(self.n, s.size)}, got {arr.shape}")
            if not np.isfinite(arr).all():
                raise ValueError(f"state {s.key!r} contains NaN or inf")
            rows[:, s.offset : s.offset + s.size] = arr
        self._state = self._kernel.import_state(rows)


class Model:
    """A loaded bundle bound to one backend."""

    def __init__(self, bundle: Bundle, backend: str = "numpy") -> None:
        self.bundle = bundle
        self.spec = bundle.spec
        self.backend = backend
        self.kernel = make_kernel(backend, bundle)

    @property
    def features(self) -> int:
        return self.spec.features

    @property
    def outputs(self) -> int:
        return self.spec.outputs

    @property
    def manifest(self) -> dict:
        return self.bundle.manifest

    def __repr__(self) -> str:
        kinds = "→".join(f"{layer.kind}({layer.units})" for layer in self.spec.layers)
        return f"<edge_lstm.Model {kinds} features={self.features} backend={self.backend!r}>"

    def streams(self, n: int) -> StreamBank:
        """A bank of ``n`` independent streams, all starting from zero state."""
        return StreamBank(self, n)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Stream ``x`` of shape ``(T, F)`` or ``(N, T, F)`` from zero state; return every step's output."""
        x = np.asarray(x)
        single = x.ndim == 2 or (x.ndim == 1 and self.features == 1)
        if x.ndim == 1 and self.features == 1:
            x = x[:, None]
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(f"run expects (T, {self.features}) or (N, T, {self.features}), got shape {x.shape}")
        x = self._check_input(x, x.shape[:2], "x")
        state = self.kernel.new_state(x.shape[0])
        out = self.kernel.run(state, x)
        return out[0] if single else out

    def _check_input(self, x: np.ndarray, lead: tuple[int, ...], name: str, finite: bool = True) -> np.ndarray:
        """``x`` as C-contiguous float32 of shape ``(*lead, features)``, or a ValueError naming the problem."""
        shape = (*lead, self.features)
        if type(x) is np.ndarray and x.dtype == np.float32 and x.shape == shape and x.flags.c_contiguous:
            arr = x  # the fast path a hot loop takes
        else:
            arr = np.asarray(x)
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
            if self.features == 1 and arr.shape == lead:
                arr = arr[..., None]
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        if finite and not np.isfinite(arr).all():
            raise_non_finite(arr, name)
        return arr


def load(path: str | os.PathLike | Bundle, backend: str = "numpy", verify: bool = True) -> Model:
    """Load a bundle directory (verifying every file's hash) and bind it to ``backend``."""
    bundle = path if isinstance(path, Bundle) else read_bundle(Path(path), verify=verify)
    return Model(bundle, backend)
