"""Numba float32 kernel: the whole layer stack compiled once, for any model and any bank size.

The model is encoded as a small *program* (an int64 table with one row per layer) over one flat
float32 weight buffer, and a single compiled function interprets it stream by stream. Nothing is
specialised on the model's shape, so ``cache=True`` compiles once per machine and a new bank size
never triggers a recompilation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from edge_lstm import activations
from edge_lstm.bundle import Bundle
from edge_lstm.kernels.base import Kernel

# Op codes and program columns.
OP_DENSE, OP_LSTM, OP_GRU, OP_RNN, OP_AFFINE, OP_ACT = range(6)
_OPS = {"dense": OP_DENSE, "lstm": OP_LSTM, "gru": OP_GRU, "simple_rnn": OP_RNN, "affine": OP_AFFINE,
        "activation": OP_ACT}
C_OP, C_IN, C_OUT, C_W, C_U, C_B, C_B2, C_H, C_C, C_ACT, C_RACT, C_FLAG = range(12)
N_COLS = 12

_A = activations.CODES
LINEAR, RELU, RELU6, LEAKY, ELU, SELU = _A["linear"], _A["relu"], _A["relu6"], _A["leaky_relu"], _A["elu"], _A["selu"]
TANH, SIGMOID, HSIG, HSILU, SILU = _A["tanh"], _A["sigmoid"], _A["hard_sigmoid"], _A["hard_silu"], _A["silu"]
SOFTPLUS, SOFTSIGN, EXP, MISH, LOGSIG = _A["softplus"], _A["softsign"], _A["exponential"], _A["mish"], _A["log_sigmoid"]
GELU, SOFTMAX = _A["gelu"], _A["softmax"]
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


@njit(cache=True, inline="always")
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@njit(cache=True)
def act1(code, x):
    """One activation on one float (softmax is handled on whole vectors)."""
    if code == LINEAR:
        return x
    if code == TANH:
        return math.tanh(x)
    if code == SIGMOID:
        return 1.0 / (1.0 + math.exp(-x))
    if code == RELU:
        return max(x, 0.0)
    if code == HSIG:
        return min(max(x / 6.0 + 0.5, 0.0), 1.0)
    if code == RELU6:
        return min(max(x, 0.0), 6.0)
    if code == LEAKY:
        return x if x >= 0.0 else 0.2 * x
    if code == ELU:
        return x if x > 0.0 else math.expm1(x)
    if code == SELU:
        return _SELU_SCALE * (x if x > 0.0 else _SELU_ALPHA * math.expm1(x))
    if code == HSILU:
        return x * min(max(x / 6.0 + 0.5, 0.0), 1.0)
    if code == SILU:
        return x / (1.0 + math.exp(-x))
    if code == SOFTPLUS:
        return _softplus(x)
    if code == SOFTSIGN:
        return x / (1.0 + abs(x))
    if code == EXP:
        return math.exp(x)
    if code == MISH:
        return x * math.tanh(_softplus(x))
    if code == LOGSIG:
        return -_softplus(-x)
    if code == GELU:
        return 0.5 * x * (1.0 + math.erf(x * 0.7071067811865476))
    return x


@njit(cache=True)
def _activate(code, v, n):
    if code == LINEAR:
        return
    if code == SOFTMAX:
        m = v[0]
        for j in range(1, n):
            m = max(m, v[j])
        total = 0.0
        for j in range(n):
            v[j] = math.exp(v[j] - m)
            total += v[j]
        for j in range(n):
            v[j] /= total
        return
    for j in range(n):
        v[j] = act1(code, v[j])


@njit(cache=True)
def _matvec_acc(z, w, off, vec, n_in, width):
    """z[:width] += vec[:n_in] @ W, W stored row-major (n_in, width) at w[off:]."""
    for k in range(n_in):
        xk = vec[k]
        base = off + k * width
        for j in range(width):
            z[j] += xk * w[base + j]


@njit(cache=True)
def advance(a, srow, ops, w, b, z):
    """Run one sample (in ``a``) of one stream through every op; leave the output in ``a``."""
    width = 0
    for li in range(ops.shape[0]):
        op = ops[li, C_OP]
        n_in = ops[li, C_IN]
        u = ops[li, C_OUT]
        if op == OP_DENSE:
            for j in range(u):
                b[j] = w[ops[li, C_B] + j]
            _matvec_acc(b, w, ops[li, C_W], a, n_in, u)
            _activate(ops[li, C_ACT], b, u)
        elif op == OP_AFFINE:
            for j in range(u):
                b[j] = a[j] * w[ops[li, C_W] + j] + w[ops[li, C_B] + j]
        elif op == OP_ACT:
            for j in range(u):
                b[j] = a[j]
            _activate(ops[li, C_ACT], b, u)
        elif op == OP_LSTM:
            h0, c0, g4 = ops[li, C_H], ops[li, C_C], 4 * u
            act, ract = ops[li, C_ACT], ops[li, C_RACT]
            for j in range(g4):
                z[j] = w[ops[li, C_B] + j]
            _matvec_acc(z, w, ops[li, C_W], a, n_in, g4)
            _matvec_acc(z, w, ops[li, C_U], srow[h0:], u, g4)
            for j in range(u):
                i = act1(ract, z[j])
                f = act1(ract, z[u + j])
                g = act1(act, z[2 * u + j])
                o = act1(ract, z[3 * u + j])
                c = f * srow[c0 + j] + i * g
                srow[c0 + j] = c
                b[j] = o * act1(act, c)
            for j in range(u):
                srow[h0 + j] = b[j]
        elif op == OP_RNN:
            h0 = ops[li, C_H]
            for j in range(u):
                z[j] = w[ops[li, C_B] + j]
            _matvec_acc(z, w, ops[li, C_W], a, n_in, u)
            _matvec_acc(z, w, ops[li, C_U], srow[h0:], u, u)
            for j in range(u):
                b[j] = act1(ops[li, C_ACT], z[j])
            for j in range(u):
                srow[h0 + j] = b[j]
        else:  # OP_GRU; z holds x-part in [0, 3u) and h-part in [3u, 6u)
            h0, g3 = ops[li, C_H], 3 * u
            act, ract, reset_after = ops[li, C_ACT], ops[li, C_RACT], ops[li, C_FLAG]
            for j in range(g3):
                z[j] = w[ops[li, C_B] + j]
                z[g3 + j] = w[ops[li, C_B2] + j]
            _matvec_acc(z, w, ops[li, C_W], a, n_in, g3)
            if reset_after:
                _matvec_acc(z[g3:], w, ops[li, C_U], srow[h0:], u, g3)
                for j in range(u):
                    zz = act1(ract, z[j] + z[g3 + j])
                    r = act1(ract, z[u + j] + z[g3 + u + j])
                    cand = act1(act, z[2 * u + j] + r * z[g3 + 2 * u + j])
                    b[j] = zz * srow[h0 + j] + (1.0 - zz) * cand
            else:
                # z and r gates from h; the candidate needs (r*h) @ U_h, built in z[g3:g3+u].
                for k in range(u):
                    hk = srow[h0 + k]
                    base = ops[li, C_U] + k * g3
                    for j in range(2 * u):
                        z[g3 + j] += hk * w[base + j]
                for j in range(u):
                    z[j] = act1(ract, z[j] + z[g3 + j])  # zz
                    z[u + j] = act1(ract, z[u + j] + z[g3 + u + j])  # r
                for j in range(u):
                    z[g3 + j] = z[g3 + 2 * u + j]  # recurrent bias of the candidate
                for k in range(u):
                    rh = z[u + k] * srow[h0 + k]
                    base = ops[li, C_U] + k * g3 + 2 * u
                    for j in range(u):
                        z[g3 + j] += rh * w[base + j]
                for j in range(u):
                    cand = act1(act, z[2 * u + j] + z[g3 + j])
                    b[j] = z[j] * srow[h0 + j] + (1.0 - z[j]) * cand
            for j in range(u):
                srow[h0 + j] = b[j]
        for j in range(u):
            a[j] = b[j]
        width = u
    return width


@njit(cache=True)
def step_rows(x, rows, use_rows, state, ops, w, out, max_dim, max_gates):
    """Advance stream ``rows[s]`` (or ``s`` when not ``use_rows``) by sample ``x[s]``."""
    a = np.empty(max_dim, np.float32)
    b = np.empty(max_dim, np.float32)
    z = np.empty(max_gates, np.float32)
    for s in range(x.shape[0]):
        row = rows[s] if use_rows else s
        for k in range(x.shape[1]):
            a[k] = x[s, k]
        width = advance(a, state[row], ops, w, b, z)
        for j in range(width):
            out[s, j] = a[j]


@njit(cache=True)
def run_streams(xs, state, ops, w, out, max_dim, max_gates):
    """Feed ``xs[s, t]`` for every stream s and time t; outputs into ``out[s, t]``."""
    a = np.empty(max_dim, np.float32)
    b = np.empty(max_dim, np.float32)
    z = np.empty(max_gates, np.float32)
    for s in range(xs.shape[0]):
        for t in range(xs.shape[1]):
            for k in range(xs.shape[2]):
                a[k] = xs[s, t, k]
            width = advance(a, state[s], ops, w, b, z)
            for j in range(width):
                out[s, t, j] = a[j]


def compile_program(bundle: Bundle) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Encode a bundle as (ops table, flat float32 weights, max vector width, max gate buffer)."""
    spec = bundle.spec
    chunks: list[np.ndarray] = []
    offset = 0

    def put(arr: np.ndarray) -> int:
        nonlocal offset
        start = offset
        chunks.append(np.ascontiguousarray(arr, dtype=np.float32).ravel())
        offset += chunks[-1].size
        return start

    rows = [[OP_AFFINE, spec.features, spec.features, put(spec.input_scale), 0, put(spec.input_offset),
             0, 0, 0, LINEAR, LINEAR, 0]]
    max_dim, max_gates = spec.features, 1
    for layer in spec.layers:
        row = [0] * N_COLS
        row[C_OP], row[C_IN], row[C_OUT] = _OPS[layer.kind], layer.input_dim, layer.units
        row[C_ACT], row[C_RACT] = _A[layer.activation], _A[layer.recurrent_activation]
        wk = bundle.weights
        if layer.kind == "affine":
            row[C_W], row[C_B] = put(wk[layer.weight_key("scale")]), put(wk[layer.weight_key("offset")])
        elif layer.kind != "activation":
            row[C_W], row[C_B] = put(wk[layer.weight_key("kernel")]), put(wk[layer.weight_key("bias")])
        if layer.is_recurrent:
            row[C_U] = put(wk[layer.weight_key("recurrent_kernel")])
            row[C_H] = spec.slot(layer.index, "h").offset
        if layer.kind == "lstm":
            row[C_C] = spec.slot(layer.index, "c").offset
        if layer.kind == "gru":
            row[C_B2] = put(wk[layer.weight_key("recurrent_bias")])
            row[C_FLAG] = int(layer.reset_after)
        rows.append(row)
        max_dim = max(max_dim, layer.input_dim, layer.units)
        max_gates = max(max_gates, {"lstm": 4, "gru": 6}.get(layer.kind, 1) * layer.units)
    weights = np.concatenate(chunks) if chunks else np.zeros(1, np.float32)
    return np.asarray(rows, dtype=np.int64), weights, max_dim, max_gates


class NumbaF32Kernel(Kernel):
    name = "numba-f32"

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        self.ops, self.flat, self.max_dim, self.max_gates = compile_program(bundle)
        self._no_rows = np.zeros(0, dtype=np.int64)

    def step(self, state: np.ndarray, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        out = np.empty((x.shape[0], self.spec.outputs), dtype=np.float32)
        use_rows = rows is not None
        step_rows(x, rows if use_rows else self._no_rows, use_rows, state, self.ops, self.flat, out,
                  self.max_dim, self.max_gates)
        return out

    def run(self, state: np.ndarray, xs: np.ndarray) -> np.ndarray:
        out = np.empty((xs.shape[0], xs.shape[1], self.spec.outputs), dtype=np.float32)
        run_streams(xs, state, self.ops, self.flat, out, self.max_dim, self.max_gates)
        return out
