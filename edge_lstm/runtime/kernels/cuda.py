"""Numba CUDA kernel: a bank of streams advanced by one launch per step, state resident on the GPU.

One thread block serves ``SPB`` streams; thread ``j`` of the block owns unit ``j`` of each layer
and computes all of that unit's gate pre-activations (i, f, c~, o) for the block's streams, so the
gate math needs no exchange between threads. Layer inputs and the previous h are staged in shared
memory; weights are read from global memory in Keras layout (inputs, gates*units), where
consecutive threads read consecutive addresses. The model program is the one the CPU kernel uses
(:func:`edge_lstm.runtime.kernels.numba_f32.compile_program`).

Runs on NVIDIA GPUs with Numba's CUDA target (``pip install 'edge-lstm[cuda]'``), and without a
GPU under ``NUMBA_ENABLE_CUDASIM=1`` (how CI tests it).
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import cuda, float32

from edge_lstm.errors import BackendUnavailableError, BundleError
from edge_lstm.runtime.bundle import Bundle
from edge_lstm.runtime.kernels.base import Kernel, raise_non_finite
from edge_lstm.runtime.kernels.numba_activations import (
    ELU,
    EXP,
    GELU,
    HSIG,
    HSILU,
    LEAKY,
    LINEAR,
    LOGSIG,
    MISH,
    RELU,
    RELU6,
    SELU,
    SIGMOID,
    SILU,
    SOFTMAX,
    SOFTPLUS,
    SOFTSIGN,
    TANH,
)
from edge_lstm.runtime.kernels.numba_f32 import (
    C_ACT,
    C_B,
    C_B2,
    C_C,
    C_FLAG,
    C_H,
    C_IN,
    C_OP,
    C_OUT,
    C_RACT,
    C_U,
    C_W,
    OP_ACT,
    OP_AFFINE,
    OP_DENSE,
    OP_GRU,
    OP_LSTM,
    compile_program,
)

SPB = 2  # streams per block
MAX_WIDTH = 1024  # widest layer input or output the shared buffers hold
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805


@cuda.jit(device=True)
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@cuda.jit(device=True)
def _act(code, x):
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


@cuda.jit
def step_kernel(x, rows, use_rows, state, ops, w, out, n):
    """Advance streams ``rows[g]`` (or ``g``) by sample ``x[g]``; write outputs to ``out[g]``."""
    sa = cuda.shared.array((SPB, MAX_WIDTH), float32)
    sb = cuda.shared.array((SPB, MAX_WIDTH), float32)
    sh = cuda.shared.array((SPB, MAX_WIDTH), float32)
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    first = cuda.blockIdx.x * SPB
    for s in range(SPB):
        g = first + s
        for k in range(tid, x.shape[1], nt):
            sa[s, k] = x[g, k] if g < n else 0.0
    cuda.syncthreads()
    width = x.shape[1]
    for li in range(ops.shape[0]):
        op = ops[li, C_OP]
        n_in = ops[li, C_IN]
        u = ops[li, C_OUT]
        act = ops[li, C_ACT]
        ract = ops[li, C_RACT]
        h0 = ops[li, C_H]
        recurrent = op != OP_DENSE and op != OP_AFFINE and op != OP_ACT
        if recurrent:
            for s in range(SPB):  # lanes past n hold zeros, so no activation sees stale shared memory
                g = first + s
                for k in range(tid, u, nt):
                    sh[s, k] = state[rows[g] if use_rows else g, h0 + k] if g < n else 0.0
            cuda.syncthreads()
        for j in range(tid, u, nt):
            if op == OP_AFFINE:
                for s in range(SPB):
                    sb[s, j] = sa[s, j] * w[ops[li, C_W] + j] + w[ops[li, C_B] + j]
            elif op == OP_ACT:
                for s in range(SPB):
                    sb[s, j] = _act(act, sa[s, j]) if act != SOFTMAX else sa[s, j]
            elif op == OP_DENSE:
                acc = cuda.local.array(SPB, float32)
                for s in range(SPB):
                    acc[s] = w[ops[li, C_B] + j]
                for k in range(n_in):
                    wk = w[ops[li, C_W] + k * u + j]
                    for s in range(SPB):
                        acc[s] += sa[s, k] * wk
                for s in range(SPB):
                    sb[s, j] = _act(act, acc[s]) if act != SOFTMAX else acc[s]
            elif op == OP_LSTM:
                zi = cuda.local.array(SPB, float32)
                zf = cuda.local.array(SPB, float32)
                zg = cuda.local.array(SPB, float32)
                zo = cuda.local.array(SPB, float32)
                b0 = ops[li, C_B]
                for s in range(SPB):
                    zi[s] = w[b0 + j]
                    zf[s] = w[b0 + u + j]
                    zg[s] = w[b0 + 2 * u + j]
                    zo[s] = w[b0 + 3 * u + j]
                for k in range(n_in):
                    base = ops[li, C_W] + k * 4 * u + j
                    wi, wf, wg, wo = w[base], w[base + u], w[base + 2 * u], w[base + 3 * u]
                    for s in range(SPB):
                        v = sa[s, k]
                        zi[s] += v * wi
                        zf[s] += v * wf
                        zg[s] += v * wg
                        zo[s] += v * wo
                for k in range(u):
                    base = ops[li, C_U] + k * 4 * u + j
                    wi, wf, wg, wo = w[base], w[base + u], w[base + 2 * u], w[base + 3 * u]
                    for s in range(SPB):
                        v = sh[s, k]
                        zi[s] += v * wi
                        zf[s] += v * wf
                        zg[s] += v * wg
                        zo[s] += v * wo
                for s in range(SPB):
                    g = first + s
                    if g < n:
                        row = rows[g] if use_rows else g
                        c = _act(ract, zf[s]) * state[row, ops[li, C_C] + j] + _act(ract, zi[s]) * _act(act, zg[s])
                        state[row, ops[li, C_C] + j] = c
                        sb[s, j] = _act(ract, zo[s]) * _act(act, c)
                    else:
                        sb[s, j] = 0.0
            elif op == OP_GRU:
                xz = cuda.local.array(SPB, float32)
                xr = cuda.local.array(SPB, float32)
                xh = cuda.local.array(SPB, float32)
                hz = cuda.local.array(SPB, float32)
                hr = cuda.local.array(SPB, float32)
                hh = cuda.local.array(SPB, float32)
                b0, b2 = ops[li, C_B], ops[li, C_B2]
                for s in range(SPB):
                    xz[s], xr[s], xh[s] = w[b0 + j], w[b0 + u + j], w[b0 + 2 * u + j]
                    hz[s], hr[s], hh[s] = w[b2 + j], w[b2 + u + j], w[b2 + 2 * u + j]
                for k in range(n_in):
                    base = ops[li, C_W] + k * 3 * u + j
                    for s in range(SPB):
                        v = sa[s, k]
                        xz[s] += v * w[base]
                        xr[s] += v * w[base + u]
                        xh[s] += v * w[base + 2 * u]
                for k in range(u):
                    base = ops[li, C_U] + k * 3 * u + j
                    for s in range(SPB):
                        v = sh[s, k]
                        hz[s] += v * w[base]
                        hr[s] += v * w[base + u]
                for s in range(SPB):
                    zz = _act(ract, xz[s] + hz[s])
                    r = _act(ract, xr[s] + hr[s])
                    if ops[li, C_FLAG]:  # reset_after: r gates U_h h + b_h
                        rec = hh[s]
                        for k in range(u):
                            rec += sh[s, k] * w[ops[li, C_U] + k * 3 * u + 2 * u + j]
                        cand = _act(act, xh[s] + r * rec)
                        sb[s, j] = zz * sh[s, j] + (1.0 - zz) * cand
                    else:  # needs r * h of every unit: finished after the barrier below
                        sb[s, j] = zz
                        sb[s, MAX_WIDTH - 1 - j] = r * sh[s, j]  # mirrored; units <= MAX_WIDTH / 2
            else:  # simple RNN
                acc = cuda.local.array(SPB, float32)
                for s in range(SPB):
                    acc[s] = w[ops[li, C_B] + j]
                for k in range(n_in):
                    wk = w[ops[li, C_W] + k * u + j]
                    for s in range(SPB):
                        acc[s] += sa[s, k] * wk
                for k in range(u):
                    wk = w[ops[li, C_U] + k * u + j]
                    for s in range(SPB):
                        acc[s] += sh[s, k] * wk
                for s in range(SPB):
                    sb[s, j] = _act(act, acc[s])
        cuda.syncthreads()
        if op == OP_GRU and ops[li, C_FLAG] == 0:
            # candidate = act(x W_h + b + (r * h) U_h); r * h was left mirrored at the end of sb.
            for j in range(tid, u, nt):
                for s in range(SPB):
                    pre = w[ops[li, C_B] + 2 * u + j] + w[ops[li, C_B2] + 2 * u + j]
                    for k in range(n_in):
                        pre += sa[s, k] * w[ops[li, C_W] + k * 3 * u + 2 * u + j]
                    for k in range(u):
                        pre += sb[s, MAX_WIDTH - 1 - k] * w[ops[li, C_U] + k * 3 * u + 2 * u + j]
                    zz = sb[s, j]
                    sh[s, j] = zz * sh[s, j] + (1.0 - zz) * _act(act, pre)
            cuda.syncthreads()
            for j in range(tid, u, nt):
                for s in range(SPB):
                    sb[s, j] = sh[s, j]
            cuda.syncthreads()
        if (op == OP_DENSE or op == OP_ACT) and act == SOFTMAX and tid == 0:
            for s in range(SPB):
                m = sb[s, 0]
                for j in range(1, u):
                    m = max(m, sb[s, j])
                total = 0.0
                for j in range(u):
                    sb[s, j] = math.exp(sb[s, j] - m)
                    total += sb[s, j]
                for j in range(u):
                    sb[s, j] /= total
        cuda.syncthreads()
        for j in range(tid, u, nt):
            for s in range(SPB):
                sa[s, j] = sb[s, j]
                g = first + s
                if recurrent and g < n:
                    state[rows[g] if use_rows else g, h0 + j] = sb[s, j]
        cuda.syncthreads()
        width = u
    for s in range(SPB):
        g = first + s
        if g < n:
            for j in range(tid, width, nt):
                out[g, j] = sa[s, j]


@cuda.jit
def zero_rows_kernel(state, rows, all_rows):
    """Zero the state rows listed in ``rows`` (or every row)."""
    i = cuda.blockIdx.x
    count = state.shape[0] if all_rows else rows.shape[0]
    if i < count:
        row = i if all_rows else rows[i]
        for k in range(cuda.threadIdx.x, state.shape[1], cuda.blockDim.x):
            state[row, k] = 0.0


class CudaKernel(Kernel):
    name = "cuda"
    checks_finite = False

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        if not cuda.is_available():
            raise BackendUnavailableError(
                "backend 'cuda' needs an NVIDIA GPU with a CUDA driver (or NUMBA_ENABLE_CUDASIM=1 to simulate)"
            )
        widest = max([bundle.spec.features] + [layer.units for layer in bundle.spec.layers])
        if widest > MAX_WIDTH // 2:
            raise BundleError(f"backend 'cuda' supports layers up to {MAX_WIDTH // 2} wide; this model has {widest}")
        ops, flat, _, _, _ = compile_program(bundle)
        self._ops = cuda.to_device(ops)
        self._w = cuda.to_device(flat)
        self._threads = int(min(128, 32 * math.ceil(widest / 32)))
        self._no_rows = cuda.to_device(np.zeros(1, dtype=np.int64))
        self._staged = threading.local()  # per thread: staging buffers for steps (see _buffers)

    def new_state(self, n: int):  # type: ignore[override]
        return cuda.to_device(np.zeros((n, max(1, self.spec.state_size)), dtype=np.float32))

    def export_state(self, state) -> np.ndarray:  # type: ignore[override]
        return state.copy_to_host()[:, : self.spec.state_size].copy()

    def import_state(self, rows: np.ndarray):  # type: ignore[override]
        padded = np.zeros((rows.shape[0], max(1, self.spec.state_size)), dtype=np.float32)
        padded[:, : self.spec.state_size] = rows
        return cuda.to_device(padded)

    def reset_rows(self, state, rows) -> None:  # type: ignore[override]
        all_rows = isinstance(rows, slice)
        d_rows = self._no_rows if all_rows else cuda.to_device(np.asarray(rows, dtype=np.int64))
        count = state.shape[0] if all_rows else len(rows)
        if count:
            zero_rows_kernel[count, 32](state, d_rows, all_rows)

    def _launch(self, d_x, d_rows, use_rows: bool, state, d_out, n: int, stream=0) -> None:
        blocks = (n + SPB - 1) // SPB
        step_kernel[blocks, self._threads, stream](d_x, d_rows, use_rows, state, self._ops, self._w, d_out, n)

    def _buffers(self, n: int) -> tuple:
        """(stream, host x, host rows, host out, device x, device rows, device out) for a step of ``n`` samples:
        views of pinned host and device buffers kept per thread and grown to the largest step seen (doubling), so a
        step allocates nothing and makes two copies and one launch on one CUDA stream."""
        staged = self._staged
        if getattr(staged, "n", None) != n:
            if getattr(staged, "capacity", 0) < n:
                capacity = max(n, 2 * getattr(staged, "capacity", 0))
                wide, out = (capacity, self.spec.features), (capacity, self.spec.outputs)
                staged.capacity, staged.stream = capacity, getattr(staged, "stream", None) or cuda.stream()
                staged.full = (cuda.pinned_array(wide, np.float32), cuda.pinned_array(capacity, np.int64),
                               cuda.pinned_array(out, np.float32), cuda.device_array(wide, np.float32),
                               cuda.device_array(capacity, np.int64), cuda.device_array(out, np.float32))
            staged.n, staged.views = n, (staged.stream, *(buffer[:n] for buffer in staged.full))
        return staged.views

    def step(self, state, x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:  # type: ignore[override]
        if not np.isfinite(x).all():
            raise_non_finite(x)
        n = x.shape[0]
        if n == 0:
            return np.zeros((0, self.spec.outputs), np.float32)
        stream, h_x, h_rows, h_out, d_x, d_rows, d_out = self._buffers(n)
        h_x[...] = x
        d_x.copy_to_device(h_x, stream=stream)
        if rows is not None:
            h_rows[...] = rows
            d_rows.copy_to_device(h_rows, stream=stream)
        self._launch(d_x, self._no_rows if rows is None else d_rows, rows is not None, state, d_out, n, stream)
        d_out.copy_to_host(h_out, stream=stream)
        stream.synchronize()
        return h_out.copy()

    def run(self, state, xs: np.ndarray) -> np.ndarray:  # type: ignore[override]
        n, steps, _ = xs.shape
        d_xs = cuda.to_device(np.ascontiguousarray(xs.transpose(1, 0, 2)))  # (T, N, F): each step contiguous
        d_out = cuda.device_array((steps, n, self.spec.outputs), dtype=np.float32)
        for t in range(steps):
            self._launch(d_xs[t], self._no_rows, False, state, d_out[t], n)
        return d_out.copy_to_host().transpose(1, 0, 2).copy()
