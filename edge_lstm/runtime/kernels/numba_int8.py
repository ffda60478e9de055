"""Numba int8 kernel: int8 weights, int16 activations, int32 accumulation, float32 gates and cell.

Same program-over-flat-buffers design as :mod:`edge_lstm.runtime.kernels.numba_f32`. Each matrix product
quantises its input vector with the layer's calibrated scale to int16, multiplies it by the
per-channel int8 weights into int32 with the register-blocked micro-kernel of
:mod:`edge_lstm.runtime.kernels.microkernel` (weights packed for it when the program is compiled), and
rescales each output once per channel (for LSTM layers, inside the gate math:
:func:`edge_lstm.runtime.kernels.lstm_cell.lstm_gates_tile_q`). See :mod:`edge_lstm.runtime.quantize`
for the scheme and why. Helpers compile with ``_nrt=False``, as in ``numba_f32``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from edge_lstm.errors import BundleError
from edge_lstm.runtime.activations import CODES
from edge_lstm.runtime.bundle import Bundle
from edge_lstm.runtime.int8_scheme import FUSED_KINDS
from edge_lstm.runtime.kernels.base import CompiledStep, Kernel
from edge_lstm.runtime.kernels.fastmath import HALF
from edge_lstm.runtime.kernels.lstm_cell import lstm_gates_tile_q
from edge_lstm.runtime.kernels.microkernel import BLOCK, aligned, int_matmul, pack_pairs
from edge_lstm.runtime.kernels.numba_activations import LINEAR, SIGMOID, TANH, act1, activate_tile
from edge_lstm.runtime.kernels.numba_f32 import (
    OP_ACT,
    OP_AFFINE,
    OP_DENSE,
    OP_GRU,
    OP_LSTM,
    OP_OF,
    TILE,
    affine_tile,
    copy_tile,
    first_non_finite,
    gather_state,
    lstm_gates_tile,
    scatter_state,
)

# Program columns.
(Q_OP, Q_IN, Q_OUT, Q_WP, Q_UP, Q_WS, Q_US, Q_B, Q_B2, Q_H, Q_C, Q_ACT, Q_RACT, Q_FLAG, Q_XINV, Q_HINV,
 Q_AFF_S, Q_AFF_O, Q_QMAX, Q_MEAN, Q_UP2) = range(21)
N_QCOLS = 21


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _quantize(dst, src, ts, n, inv_scale, qmax, col0=0, mean=None, moff=0):
    """dst[s, col0+k] = clip(round((src[s, k] - mean[k]) * inv_scale), -qmax, qmax) as int16, half away from 0.

    An odd ``n`` also zeroes ``dst[s, col0+n]``: the micro-kernel reads inputs in pairs.
    """
    for s in range(ts):
        if n % 2:
            dst[s, col0 + n] = 0
        d, x = dst[s, col0 : col0 + n], src[s]  # row views: see _qdot
        if mean is None:
            for k in range(n):
                d[k] = _round16(x[k] * inv_scale, qmax)
        else:
            centre = mean[moff : moff + n]
            for k in range(n):
                d[k] = _round16((x[k] - centre[k]) * inv_scale, qmax)


@njit(cache=True, fastmath=True, inline="always", error_model="numpy")
def _round16(v, qmax):
    v = min(max(v, -qmax), qmax)
    return np.int16(np.int32(v + HALF if v >= 0 else v - HALF))


@njit(cache=True, inline="always")
def _has_gru(ops):
    for li in range(ops.shape[0]):
        if ops[li, Q_OP] == OP_GRU:
            return True
    return False


@njit(cache=True, inline="always")
def _pairs(n):
    return (n + 1) // 2


@njit(cache=True, inline="always")
def _blocks(rows):
    return (rows + BLOCK - 1) // BLOCK


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _qdot(out, ts, wp, poff, q, n_in, rows, row0, scales, soff, bias, boff, acc):
    """out[s, j] = bias[row0 + j] + scales[row0 + j] * sum_k q[s, k] * W[j, k] for j < rows.

    W is the packed part at ``wp[poff:]`` (its first row is the matrix's row ``row0``).
    """
    int_matmul(acc, 0, q, 0, ts, wp, poff, _pairs(n_in), _blocks(rows))
    # Row views with their offsets applied once: indexing 2-D arrays with runtime offsets inside
    # the loop kept LLVM from vectorising it (measured 10x slower).
    sc = scales[soff + row0 : soff + row0 + rows]
    bi = bias[boff + row0 : boff + row0 + rows]
    for s in range(ts):
        o, a = out[s], acc[s]
        for j in range(rows):
            o[j] = np.float32(a[j]) * sc[j] + bi[j]


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _qdot_pair(out, ts, wp, px, ph, q, n_x, n_h, rows, w, sx_off, sh_off, boff, acc, acc2):
    """out[s, j] = bias[j] + sx[j] * (x-part product) + sh[j] * (h-part product).

    The x part of ``q`` starts at column 0, the h part at the next even column; their weights are
    the packed parts at ``wp[px:]`` and ``wp[ph:]``.
    """
    int_matmul(acc, 0, q, 0, ts, wp, px, _pairs(n_x), _blocks(rows))
    int_matmul(acc2, 0, q, 2 * _pairs(n_x), ts, wp, ph, _pairs(n_h), _blocks(rows))
    sx, sh, bias = w[sx_off : sx_off + rows], w[sh_off : sh_off + rows], w[boff : boff + rows]
    for s in range(ts):
        o, a, a2 = out[s], acc[s], acc2[s]
        for j in range(rows):
            o[j] = np.float32(a[j]) * sx[j] + np.float32(a2[j]) * sh[j] + bias[j]


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _quantize_state(dst, state, srows, ts, h0, n, inv_scale, qmax, col0):
    """dst[s, col0+k] = the int16 of state[srows[s], h0+k] (as :func:`_quantize`), read from the state rows."""
    for s in range(ts):
        if n % 2:
            dst[s, col0 + n] = 0
        d, x = dst[s, col0 : col0 + n], state[srows[s], h0 : h0 + n]
        for k in range(n):
            d[k] = _round16(x[k] * inv_scale, qmax)


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _lstm_q(ts, wp, w, ops, li, n_in, u, q, state, srows, h, acc, acc2):
    """An LSTM layer with tanh and sigmoid gates: its two products, then the gate math with the rescale fused."""
    g4 = 4 * u
    int_matmul(acc, 0, q, 0, ts, wp, ops[li, Q_WP], _pairs(n_in), _blocks(g4))
    int_matmul(acc2, 0, q, 2 * _pairs(n_in), ts, wp, ops[li, Q_UP], _pairs(u), _blocks(g4))
    sx, sh, bias = ops[li, Q_WS], ops[li, Q_US], ops[li, Q_B]
    lstm_gates_tile_q(acc, acc2, w[sx : sx + g4], w[sh : sh + g4], w[bias : bias + g4], state, srows, ops[li, Q_C],
                      ops[li, Q_H], h, ts, u)


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def advance_tile_q(a, ts, srows, state, ops, w, wp, b, z, zh, qa, qh, hbuf, acc, acc2):
    """int8 twin of :func:`numba_f32.advance_tile` (``a`` and ``b`` take turns the same way); an LSTM
    layer quantises h straight from the state rows and its gate math writes the new h back there."""
    width = 0
    x, y = a, b
    in_b = False  # whether x is b
    for li in range(ops.shape[0]):
        op = ops[li, Q_OP]
        n_in = ops[li, Q_IN]
        u = ops[li, Q_OUT]
        xinv = w[ops[li, Q_XINV]]
        qmax = w[ops[li, Q_QMAX]]
        if op == OP_ACT:  # in place
            activate_tile(ops[li, Q_ACT], x, ts, u)
            width = u
            continue
        if op == OP_AFFINE:
            affine_tile(y, x, ts, u, w, ops[li, Q_AFF_S], ops[li, Q_AFF_O])
        elif op == OP_DENSE:
            _quantize(qa, x, ts, n_in, xinv, qmax, 0, w, ops[li, Q_MEAN])
            _qdot(y, ts, wp, ops[li, Q_WP], qa, n_in, u, 0, w, ops[li, Q_WS], w, ops[li, Q_B], acc)
            activate_tile(ops[li, Q_ACT], y, ts, u)
        else:
            h0 = ops[li, Q_H]
            hinv = w[ops[li, Q_HINV]]
            _quantize(qa, x, ts, n_in, xinv, qmax, 0, w, ops[li, Q_MEAN])
            if op == OP_GRU:
                gather_state(hbuf, state, srows, ts, h0, u)
                _qdot(z, ts, wp, ops[li, Q_WP], qa, n_in, 3 * u, 0, w, ops[li, Q_WS], w, ops[li, Q_B], acc)
                _gru_q(ts, wp, w, ops, li, u, y, z, zh, qh, hbuf, hinv, acc)
                scatter_state(state, srows, y, ts, h0, u)
            else:  # LSTM and simple RNN: one fused product over [x, h]
                _quantize_state(qa, state, srows, ts, h0, u, hinv, qmax, 2 * _pairs(n_in))
                if op == OP_LSTM and ops[li, Q_ACT] == TANH and ops[li, Q_RACT] == SIGMOID:
                    _lstm_q(ts, wp, w, ops, li, n_in, u, qa, state, srows, y, acc, acc2)
                else:
                    gates = 4 * u if op == OP_LSTM else u
                    _qdot_pair(z, ts, wp, ops[li, Q_WP], ops[li, Q_UP], qa, n_in, u, gates, w, ops[li, Q_WS],
                               ops[li, Q_US], ops[li, Q_B], acc, acc2)
                    if op == OP_LSTM:
                        lstm_gates_tile(z, state, srows, ops[li, Q_C], h0, y, ts, u, ops[li, Q_ACT], ops[li, Q_RACT])
                    else:
                        for s in range(ts):
                            for j in range(u):
                                y[s, j] = act1(ops[li, Q_ACT], z[s, j])
                        scatter_state(state, srows, y, ts, h0, u)
        x, y = y, x
        in_b = not in_b
        width = u
    if in_b:
        copy_tile(a, x, ts, width)
    return width


@njit(_nrt=False, cache=True, fastmath=True, error_model="numpy")
def _gru_q(ts, wp, w, ops, li, u, b, z, zh, qh, hbuf, hinv, acc):
    act, ract = ops[li, Q_ACT], ops[li, Q_RACT]
    qmax = w[ops[li, Q_QMAX]]
    uq, us, b2 = ops[li, Q_UP], ops[li, Q_US], ops[li, Q_B2]
    _quantize(qh, hbuf, ts, u, hinv, qmax)
    if ops[li, Q_FLAG]:  # reset_after
        _qdot(zh, ts, wp, uq, qh, u, 3 * u, 0, w, us, w, b2, acc)
        for s in range(ts):
            for j in range(u):
                zz = act1(ract, z[s, j] + zh[s, j])
                r = act1(ract, z[s, u + j] + zh[s, u + j])
                cand = act1(act, z[s, 2 * u + j] + r * zh[s, 2 * u + j])
                b[s, j] = zz * hbuf[s, j] + (np.float32(1.0) - zz) * cand
        return
    _qdot(zh, ts, wp, uq, qh, u, 2 * u, 0, w, us, w, b2, acc)
    for s in range(ts):
        for j in range(u):
            z[s, j] = act1(ract, z[s, j] + zh[s, j])  # update gate
            z[s, u + j] = act1(ract, z[s, u + j] + zh[s, u + j])  # reset gate
            zh[s, j] = z[s, u + j] * hbuf[s, j]  # r * h, quantised below with h's scale
    _quantize(qh, zh, ts, u, hinv, qmax)
    _qdot(zh, ts, wp, ops[li, Q_UP2], qh, u, u, 2 * u, w, us, w, b2, acc)
    for s in range(ts):
        for j in range(u):
            cand = act1(act, z[s, 2 * u + j] + zh[s, j])
            b[s, j] = z[s, j] * hbuf[s, j] + (np.float32(1.0) - z[s, j]) * cand


@njit(cache=True, error_model="numpy")
def step_rows_q(x, rows, use_rows, state, ops, w, wp, out, max_dim, max_gates):
    """int8 twin of :func:`numba_f32.step_rows`; returns -1 or the first non-finite sample's index."""
    bad = first_non_finite(x)
    if bad >= 0:
        return bad
    ws = max(1, min(TILE, x.shape[0]))  # work space rows: as many as the first tile's streams
    a = np.zeros((ws, max_dim), np.float32)  # (zeroed: numba_f32 says why)
    b = np.zeros((ws, max_dim), np.float32)
    z = np.zeros((ws, max_gates), np.float32)
    zh = np.zeros((ws if _has_gru(ops) else 1, max_gates), np.float32)  # GRU only
    hbuf = np.zeros((ws, max_dim), np.float32)
    qa = np.zeros((ws, 2 * max_dim + 2), np.int16)  # [x | pad to even | h | pad]
    qh = np.zeros((ws, max_dim + 1), np.int16)
    padded = BLOCK * ((max_gates + BLOCK - 1) // BLOCK)  # the micro-kernel writes whole blocks
    acc = np.empty((ws, padded), np.int32)
    acc2 = np.empty((ws, padded), np.int32)
    srows = np.empty(ws, np.int64)
    n = x.shape[0]
    for start in range(0, n, TILE):
        ts = min(TILE, n - start)
        for s in range(ts):
            srows[s] = rows[start + s] if use_rows else start + s
            for k in range(x.shape[1]):
                a[s, k] = x[start + s, k]
        width = advance_tile_q(a, ts, srows, state, ops, w, wp, b, z, zh, qa, qh, hbuf, acc, acc2)
        for s in range(ts):
            for j in range(width):
                out[start + s, j] = a[s, j]
    return -1


@njit(cache=True, error_model="numpy")
def run_streams_q(xs, state, ops, w, wp, out, max_dim, max_gates):
    """int8 twin of :func:`numba_f32.run_streams`: ``xs[s, t]`` for every stream s and time t in one call
    (the buffers made once, not per sample); outputs into ``out[s, t]``. ``xs`` is known finite.

    The work space is allocated here, as in :func:`step_rows_q`, not by a shared helper: a helper
    returning the buffers as a tuple cost a single stream's step 0.2-0.4 us (3.8-4.1 -> 4.2-4.3 us,
    alternating runs of ``edge-lstm bench``)."""
    ws = max(1, min(TILE, xs.shape[0]))
    a = np.zeros((ws, max_dim), np.float32)  # (zeroed: numba_f32 says why)
    b = np.zeros((ws, max_dim), np.float32)
    z = np.zeros((ws, max_gates), np.float32)
    zh = np.zeros((ws if _has_gru(ops) else 1, max_gates), np.float32)  # GRU only
    hbuf = np.zeros((ws, max_dim), np.float32)
    qa = np.zeros((ws, 2 * max_dim + 2), np.int16)
    qh = np.zeros((ws, max_dim + 1), np.int16)
    padded = BLOCK * ((max_gates + BLOCK - 1) // BLOCK)
    acc = np.empty((ws, padded), np.int32)
    acc2 = np.empty((ws, padded), np.int32)
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
            width = advance_tile_q(a, ts, srows, state, ops, w, wp, b, z, zh, qa, qh, hbuf, acc, acc2)
            for s in range(ts):
                for j in range(width):
                    out[start + s, t, j] = a[s, j]


def compile_int8_program(bundle: Bundle) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Encode an int8 bundle as (ops, float buffer, packed int16 weight buffer, max width, max gates)."""
    params = bundle.int8_params
    if params is None:
        raise BundleError(
            f"bundle {bundle.path or ''} has no int8 weights: convert it again with this version of "
            "`edge-lstm convert` to use the numba-int8 backend"
        )
    spec, q = bundle.spec, bundle.int8_weights
    floats: list[np.ndarray] = []
    ints: list[np.ndarray] = []
    sizes = {"f": 0, "i": 0}

    def put(arr: np.ndarray, kind: str = "f") -> int:
        """Append to the float buffer, or (kind "i") pack int8 weights into the int16 buffer."""
        target = floats if kind == "f" else ints
        flat = np.ascontiguousarray(arr, dtype=np.float32).ravel() if kind == "f" else pack_pairs(arr)
        start = sizes[kind]
        target.append(flat)
        sizes[kind] += flat.size
        return start

    one = put(np.ones(1))
    rows = [[0] * N_QCOLS]
    rows[0][Q_OP], rows[0][Q_IN], rows[0][Q_OUT] = OP_AFFINE, spec.features, spec.features
    rows[0][Q_AFF_S], rows[0][Q_AFF_O], rows[0][Q_XINV], rows[0][Q_HINV] = (
        put(spec.input_scale), put(spec.input_offset), one, one)
    rows[0][Q_ACT] = rows[0][Q_RACT] = LINEAR
    rows[0][Q_QMAX] = one
    max_dim, max_gates = spec.features, 1
    for layer, entry in zip(spec.layers, params["layers"], strict=True):
        row = [0] * N_QCOLS
        row[Q_OP], row[Q_IN], row[Q_OUT] = OP_OF[layer.kind], layer.input_dim, layer.units
        row[Q_ACT], row[Q_RACT] = CODES[layer.activation], CODES[layer.recurrent_activation]
        row[Q_XINV] = put(np.array([1.0 / entry["input_scale"]]))
        row[Q_QMAX] = put(np.array([entry["activation_qmax"]]))
        row[Q_HINV] = put(np.array([1.0 / entry["state_scale"]])) if layer.is_recurrent else one
        if layer.kind == "affine":
            row[Q_AFF_S] = put(bundle.weights[layer.weight_key("scale")])
            row[Q_AFF_O] = put(bundle.weights[layer.weight_key("offset")])
        elif layer.kind in FUSED_KINDS:
            key = layer.weight_key("fused")
            fused = q[f"{key}.q"]  # [W | U], one row per gate
            row[Q_WP], row[Q_UP] = put(fused[:, :layer.input_dim], "i"), put(fused[:, layer.input_dim:], "i")
            row[Q_WS], row[Q_US] = put(q[f"{key}.scale_x"]), put(q[f"{key}.scale_h"])
            row[Q_B] = put(q[f"{layer.weight_key('bias')}.centred"])
            row[Q_MEAN] = put(q[layer.weight_key("input_mean")])
        elif layer.kind != "activation":
            key = layer.weight_key("kernel")
            row[Q_WP] = put(q[f"{key}.q"], "i")
            row[Q_WS] = put(q[f"{key}.scale"] * np.float32(entry["input_scale"]))
            row[Q_B] = put(q[f"{layer.weight_key('bias')}.centred"])
            row[Q_MEAN] = put(q[layer.weight_key("input_mean")])
        if layer.kind == "gru":
            key = layer.weight_key("recurrent_kernel")
            recurrent = q[f"{key}.q"]
            row[Q_UP] = put(recurrent, "i")
            row[Q_UP2] = put(recurrent[2 * layer.units:], "i")  # the candidate's rows, for reset_after=False
            row[Q_US] = put(q[f"{key}.scale"] * np.float32(entry["state_scale"]))
        if layer.is_recurrent:
            row[Q_H] = spec.slot(layer.index, "h").offset
        if layer.kind == "lstm":
            row[Q_C] = spec.slot(layer.index, "c").offset
        if layer.kind == "gru":
            row[Q_B2] = put(bundle.weights[layer.weight_key("recurrent_bias")])
            row[Q_FLAG] = int(layer.reset_after)
        rows.append(row)
        max_dim = max(max_dim, layer.input_dim, layer.units)
        max_gates = max(max_gates, {"lstm": 4, "gru": 3}.get(layer.kind, 1) * layer.units)
    flat_i = aligned(ints) if ints else np.zeros(1, np.int16)
    return np.asarray(rows, dtype=np.int64), np.concatenate(floats), flat_i, max_dim, max_gates


class NumbaInt8Kernel(Kernel):
    name = "numba-int8"
    checks_finite = True

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        self.ops, self.flat, self.flat_q, self.max_dim, self.max_gates = compile_int8_program(bundle)
        self._step = CompiledStep(step_rows_q, self.ops, self.flat, self.flat_q, self.max_dim, self.max_gates,
                                  self.spec.outputs)
        self.step_all = self._step.all  # (Kernel.step_all; the compiled step's own method: one Python call less)
        self.step_rows = self._step.rows  # (Kernel.step_rows, likewise)

    def step(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        return self._step(state, x, rows)

    def run(self, state: np.ndarray, xs: np.ndarray) -> np.ndarray:
        out = np.empty((xs.shape[0], xs.shape[1], self.spec.outputs), dtype=np.float32)
        run_streams_q(np.ascontiguousarray(xs, np.float32), state, self.ops, self.flat, self.flat_q, out,
                      self.max_dim, self.max_gates)
        return out
