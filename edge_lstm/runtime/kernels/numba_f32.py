"""Numba float32 kernel: the whole layer stack compiled once, for any model and any bank size.

The model is encoded as a small *program* (an int64 table with one row per layer) over one flat
float32 weight buffer, and a single compiled function interprets it stream by stream. Nothing is
specialised on the model's shape, so ``cache=True`` compiles once per machine and a new bank size
never triggers a recompilation.

Every helper below the entry points (which allocate the work space) compiles with ``_nrt=False``:
Numba's runtime off, so the row views the loops take cost no reference counts. With it on, atomic
increments and decrements of the arrays' counts were 27% of numba-int8's time at 1,000 streams
(perf, 2026-12-02); every view lives only inside the call that makes it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from edge_lstm.runtime import activations
from edge_lstm.runtime.bundle import Bundle
from edge_lstm.runtime.kernels.base import CompiledStep, Kernel
from edge_lstm.runtime.kernels.fastmath import lstm_cell32
from edge_lstm.runtime.kernels.lstm_cell import LANES, lstm_cells16
from edge_lstm.runtime.kernels.microkernel import BLOCK, aligned, float_matmul_acc, pack_rows
from edge_lstm.runtime.kernels.numba_activations import LINEAR, SIGMOID, TANH, act1, activate_tile

# Op codes and program columns.
OP_DENSE, OP_LSTM, OP_GRU, OP_RNN, OP_AFFINE, OP_ACT = range(6)
OP_OF = {"dense": OP_DENSE, "lstm": OP_LSTM, "gru": OP_GRU, "simple_rnn": OP_RNN, "affine": OP_AFFINE,
        "activation": OP_ACT}
C_OP, C_IN, C_OUT, C_W, C_U, C_B, C_B2, C_H, C_C, C_ACT, C_RACT, C_FLAG, C_WP, C_UP = range(14)
N_COLS = 14



TILE = 16  # streams advanced together, so each weight row is loaded once per tile


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _tile_matmul(out, ts, w, off, vec, n_in, width):
    """out[s, :width] += vec[s, :n_in] @ W for s < ts; W row-major (n_in, width) at w[off:]."""
    for k in range(n_in):
        row = w[off + k * width : off + (k + 1) * width]
        for s in range(ts):
            xk = vec[s, k]
            o = out[s]
            for j in range(width):
                o[j] += xk * row[j]


@njit(cache=True, inline="always")
def _blocks(width):
    return (width + BLOCK - 1) // BLOCK


@njit(cache=True, inline="always")
def _padded(width):
    return BLOCK * _blocks(width)


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _tile_bias(out, ts, w, off, width):
    bias = w[off : off + width]
    for s in range(ts):
        o = out[s]
        for j in range(width):
            o[j] = bias[j]


# Tile copies. Every loop takes 1-D row views with its offsets applied outside the inner loop:
# indexing 2-D arrays with runtime column offsets inside it kept LLVM from vectorising (measured
# 10x slower on the int8 kernel's rescale).
@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def copy_tile(dst, src, ts, n):
    """dst[s, :n] = src[s, :n] for s < ts."""
    for s in range(ts):
        d, x = dst[s], src[s]
        for j in range(n):
            d[j] = x[j]


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def gather_state(dst, state, srows, ts, col0, n):
    """dst[s, :n] = state[srows[s], col0 : col0 + n] for s < ts."""
    for s in range(ts):
        d, x = dst[s], state[srows[s], col0 : col0 + n]
        for j in range(n):
            d[j] = x[j]


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def scatter_state(state, srows, src, ts, col0, n):
    """state[srows[s], col0 : col0 + n] = src[s, :n] for s < ts."""
    for s in range(ts):
        d, x = state[srows[s], col0 : col0 + n], src[s]
        for j in range(n):
            d[j] = x[j]


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def affine_tile(dst, src, ts, n, w, scale_off, offset_off):
    """dst[s, j] = src[s, j] * scale[j] + offset[j], scale and offset at w[scale_off:], w[offset_off:]."""
    scale, offset = w[scale_off : scale_off + n], w[offset_off : offset_off + n]
    for s in range(ts):
        d, x = dst[s], src[s]
        for j in range(n):
            d[j] = x[j] * scale[j] + offset[j]


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def lstm_gates_tile(z, state, srows, c0, h0, h, ts, u, act, ract):
    """LSTM gate math for a tile: gates z[s, :4u] and cell state[srows[s], c0:c0+u] -> new c (in
    place) and new h, written both to h[s, :u] and to state[srows[s], h0:h0+u] (no separate scatter).
    One call per tile, not per stream: per-stream calls cost as much as the math for u = 32
    (measured 0.086 vs 0.044 ms per 1,000 streams)."""
    standard = act == TANH and ract == SIGMOID
    for s in range(ts):
        zr, c, hs, hst = z[s], state[srows[s], c0 : c0 + u], h[s], state[srows[s], h0 : h0 + u]
        if standard:
            full = u - u % LANES
            for j in range(0, full, LANES):
                lstm_cells16(zr, c, hs, hst, u, j)
            for j in range(full, u):
                c[j], hj = lstm_cell32(zr[j], zr[u + j], zr[2 * u + j], zr[3 * u + j], c[j])
                hs[j] = hj
                hst[j] = hj
        else:
            for j in range(u):
                cj = act1(ract, zr[u + j]) * c[j] + act1(ract, zr[j]) * act1(act, zr[2 * u + j])
                c[j] = cj
                hj = act1(ract, zr[3 * u + j]) * act1(act, cj)
                hs[j] = hj
                hst[j] = hj


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def advance_tile(a, ts, srows, state, ops, w, wp, b, z, hbuf):
    """Run samples ``a[:ts]`` of streams ``srows[:ts]`` through every op; outputs left in ``a``.

    ``a`` and ``b`` (both padded to whole blocks) take turns as each op's input and output: no copy
    per layer, one at the end when the last output landed in ``b``."""
    width = 0
    x, y = a, b
    in_b = False  # whether x is b
    for li in range(ops.shape[0]):
        op = ops[li, C_OP]
        n_in = ops[li, C_IN]
        u = ops[li, C_OUT]
        if op == OP_ACT:  # in place
            activate_tile(ops[li, C_ACT], x, ts, u)
            width = u
            continue
        if op == OP_DENSE:
            _tile_bias(y, ts, w, ops[li, C_B], u)
            float_matmul_acc(y, x, 0, ts, wp, ops[li, C_WP], n_in, _blocks(u))
            activate_tile(ops[li, C_ACT], y, ts, u)
        elif op == OP_AFFINE:
            affine_tile(y, x, ts, u, w, ops[li, C_W], ops[li, C_B])
        else:
            h0 = ops[li, C_H]
            gather_state(hbuf, state, srows, ts, h0, u)
            if op == OP_LSTM:
                c0, g4 = ops[li, C_C], 4 * u
                _tile_bias(z, ts, w, ops[li, C_B], g4)
                float_matmul_acc(z, x, 0, ts, wp, ops[li, C_WP], n_in, _blocks(g4))
                float_matmul_acc(z, hbuf, 0, ts, wp, ops[li, C_UP], u, _blocks(g4))
                lstm_gates_tile(z, state, srows, c0, h0, y, ts, u, ops[li, C_ACT], ops[li, C_RACT])
            elif op == OP_RNN:
                _tile_bias(y, ts, w, ops[li, C_B], u)
                float_matmul_acc(y, x, 0, ts, wp, ops[li, C_WP], n_in, _blocks(u))
                float_matmul_acc(y, hbuf, 0, ts, wp, ops[li, C_UP], u, _blocks(u))
                for s in range(ts):
                    for j in range(u):
                        y[s, j] = act1(ops[li, C_ACT], y[s, j])
                scatter_state(state, srows, y, ts, h0, u)
            else:
                _gru_tile(x, ts, hbuf, w, y, z, li, ops, n_in, u)
                scatter_state(state, srows, y, ts, h0, u)
        x, y = y, x
        in_b = not in_b
        width = u
    if in_b:
        copy_tile(a, x, ts, width)
    return width


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _gru_tile(a, ts, hbuf, w, b, z, li, ops, n_in, u):
    """GRU step for a tile; z holds the input part in [0, 3u) and the recurrent part in [3u, 6u)."""
    g3 = 3 * u
    act, ract = ops[li, C_ACT], ops[li, C_RACT]
    _tile_bias(z, ts, w, ops[li, C_B], g3)
    _tile_matmul(z, ts, w, ops[li, C_W], a, n_in, g3)
    for s in range(ts):
        for j in range(g3):
            z[s, g3 + j] = w[ops[li, C_B2] + j]
    if ops[li, C_FLAG]:  # reset_after: r gates the recurrent projection
        for k in range(u):
            row = w[ops[li, C_U] + k * g3 : ops[li, C_U] + (k + 1) * g3]
            for s in range(ts):
                hk = hbuf[s, k]
                for j in range(g3):
                    z[s, g3 + j] += hk * row[j]
        for s in range(ts):
            for j in range(u):
                zz = act1(ract, z[s, j] + z[s, g3 + j])
                r = act1(ract, z[s, u + j] + z[s, g3 + u + j])
                cand = act1(act, z[s, 2 * u + j] + r * z[s, g3 + 2 * u + j])
                b[s, j] = zz * hbuf[s, j] + (1.0 - zz) * cand
        return
    # reset_after=False: z and r from h, then the candidate from (r * h) @ U_h
    for k in range(u):
        row = w[ops[li, C_U] + k * g3 : ops[li, C_U] + k * g3 + 2 * u]
        for s in range(ts):
            hk = hbuf[s, k]
            for j in range(2 * u):
                z[s, g3 + j] += hk * row[j]
    for s in range(ts):
        for j in range(u):
            z[s, j] = act1(ract, z[s, j] + z[s, g3 + j])
            z[s, u + j] = act1(ract, z[s, u + j] + z[s, g3 + u + j])
            z[s, g3 + j] = z[s, g3 + 2 * u + j]
    for k in range(u):
        row = w[ops[li, C_U] + k * g3 + 2 * u : ops[li, C_U] + k * g3 + g3]
        for s in range(ts):
            rh = z[s, u + k] * hbuf[s, k]
            for j in range(u):
                z[s, g3 + j] += rh * row[j]
    for s in range(ts):
        for j in range(u):
            cand = act1(act, z[s, 2 * u + j] + z[s, g3 + j])
            b[s, j] = z[s, j] * hbuf[s, j] + (1.0 - z[s, j]) * cand


@njit(cache=True, error_model="numpy")
def first_non_finite(x):
    """Index of the first row of ``x`` holding NaN or inf, or -1."""
    for s in range(x.shape[0]):
        for k in range(x.shape[1]):
            if not math.isfinite(x[s, k]):
                return s
    return -1


@njit(cache=True, error_model="numpy")
def step_rows(x, rows, use_rows, state, ops, w, wp, out, max_dim, max_gates):
    """Advance stream ``rows[s]`` (or ``s`` when not ``use_rows``) by sample ``x[s]``, a tile at a time.

    Returns -1, or the index of the first sample holding NaN/inf, in which case no state changed.
    """
    bad = first_non_finite(x)
    if bad >= 0:
        return bad
    ws = max(1, min(TILE, x.shape[0]))  # work space rows: as many as the first tile's streams
    # Zeroed, not empty: a tile of fewer than TILE streams still computes its padding lanes, and whatever floats
    # the memory held (denormals, NaN) would send them down x86's slow microcode path.
    a = np.zeros((ws, _padded(max_dim)), np.float32)  # the micro-kernel writes whole blocks
    b = np.zeros((ws, _padded(max_dim)), np.float32)
    z = np.zeros((ws, _padded(max_gates)), np.float32)
    hbuf = np.zeros((ws, max_dim), np.float32)
    srows = np.empty(ws, np.int64)
    n = x.shape[0]
    for start in range(0, n, TILE):
        ts = min(TILE, n - start)
        for s in range(ts):
            srows[s] = rows[start + s] if use_rows else start + s
            for k in range(x.shape[1]):
                a[s, k] = x[start + s, k]
        width = advance_tile(a, ts, srows, state, ops, w, wp, b, z, hbuf)
        for s in range(ts):
            for j in range(width):
                out[start + s, j] = a[s, j]
    return -1


@njit(cache=True, error_model="numpy")
def run_streams(xs, state, ops, w, wp, out, max_dim, max_gates):
    """Feed ``xs[s, t]`` for every stream s and time t; outputs into ``out[s, t]``."""
    # Zeroed, not empty: a tile of fewer than TILE streams still computes its padding lanes, and whatever floats
    # the memory held (denormals, NaN) would send them down x86's slow microcode path.
    ws = max(1, min(TILE, xs.shape[0]))
    a = np.zeros((ws, _padded(max_dim)), np.float32)  # the micro-kernel writes whole blocks
    b = np.zeros((ws, _padded(max_dim)), np.float32)
    z = np.zeros((ws, _padded(max_gates)), np.float32)
    hbuf = np.zeros((ws, max_dim), np.float32)
    srows = np.empty(ws, np.int64)
    n = xs.shape[0]
    for start in range(0, n, TILE):
        ts = min(TILE, n - start)
        for s in range(ts):
            srows[s] = start + s
        for t in range(xs.shape[1]):
            for s in range(ts):
                for k in range(xs.shape[2]):
                    a[s, k] = xs[start + s, t, k]
            width = advance_tile(a, ts, srows, state, ops, w, wp, b, z, hbuf)
            for s in range(ts):
                for j in range(width):
                    out[start + s, t, j] = a[s, j]


def compile_program(bundle: Bundle) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
    """Encode a bundle as (ops table, flat float32 weights, max vector width, max gate buffer, packed
    weights): the LSTM, SimpleRNN and dense matrices also packed for the micro-kernel
    (:func:`edge_lstm.runtime.kernels.microkernel.pack_rows`, columns C_WP and C_UP)."""
    spec = bundle.spec
    chunks: list[np.ndarray] = []
    packed: list[np.ndarray] = []
    offset = 0

    def pack(arr: np.ndarray) -> int:
        start = sum(p.size for p in packed)
        packed.append(pack_rows(np.asarray(arr, np.float32)))
        return start

    def put(arr: np.ndarray) -> int:
        nonlocal offset
        start = offset
        chunks.append(np.ascontiguousarray(arr, dtype=np.float32).ravel())
        offset += chunks[-1].size
        return start

    rows = [[OP_AFFINE, spec.features, spec.features, put(spec.input_scale), 0, put(spec.input_offset),
             0, 0, 0, LINEAR, LINEAR, 0, 0, 0]]
    max_dim, max_gates = spec.features, 1
    for layer in spec.layers:
        row = [0] * N_COLS
        row[C_OP], row[C_IN], row[C_OUT] = OP_OF[layer.kind], layer.input_dim, layer.units
        row[C_ACT], row[C_RACT] = activations.CODES[layer.activation], activations.CODES[layer.recurrent_activation]
        wk = bundle.weights
        if layer.kind == "affine":
            row[C_W], row[C_B] = put(wk[layer.weight_key("scale")]), put(wk[layer.weight_key("offset")])
        elif layer.kind != "activation":
            row[C_W], row[C_B] = put(wk[layer.weight_key("kernel")]), put(wk[layer.weight_key("bias")])
        if layer.is_recurrent:
            row[C_U] = put(wk[layer.weight_key("recurrent_kernel")])
            row[C_H] = spec.slot(layer.index, "h").offset
        if layer.kind in ("lstm", "simple_rnn", "dense"):
            row[C_WP] = pack(wk[layer.weight_key("kernel")])
            if layer.is_recurrent:
                row[C_UP] = pack(wk[layer.weight_key("recurrent_kernel")])
        if layer.kind == "lstm":
            row[C_C] = spec.slot(layer.index, "c").offset
        if layer.kind == "gru":
            row[C_B2] = put(wk[layer.weight_key("recurrent_bias")])
            row[C_FLAG] = int(layer.reset_after)
        rows.append(row)
        max_dim = max(max_dim, layer.input_dim, layer.units)
        max_gates = max(max_gates, {"lstm": 4, "gru": 6}.get(layer.kind, 1) * layer.units)
    weights = np.concatenate(chunks) if chunks else np.zeros(1, np.float32)
    packed_weights = aligned(packed, np.float32) if packed else np.zeros(BLOCK, np.float32)
    return np.asarray(rows, dtype=np.int64), weights, max_dim, max_gates, packed_weights


class NumbaF32Kernel(Kernel):
    name = "numba-f32"
    checks_finite = True

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        self.ops, self.flat, self.max_dim, self.max_gates, self.packed = compile_program(bundle)
        self._step = CompiledStep(step_rows, self.ops, self.flat, self.packed, self.max_dim, self.max_gates,
                                  self.spec.outputs)
        self.step_all = self._step.all  # (Kernel.step_all; the compiled step's own method: one Python call less)
        self.step_rows = self._step.rows  # (Kernel.step_rows, likewise)

    def step(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        return self._step(state, x, rows)

    def run(self, state: np.ndarray, xs: np.ndarray) -> np.ndarray:
        out = np.empty((xs.shape[0], xs.shape[1], self.spec.outputs), dtype=np.float32)
        run_streams(xs, state, self.ops, self.flat, self.packed, out, self.max_dim, self.max_gates)
        return out
