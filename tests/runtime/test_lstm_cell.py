"""The int8 kernel's LSTM cell with its activations in half precision (what AVX512-FP16 CPUs run) against the
float32 cell: the same gates, within half precision's error. The half cell compiles and runs on any CPU (LLVM widens
halves where it must), so this runs everywhere; only AVX512-FP16 CPUs use it in the kernel."""

from __future__ import annotations

import numpy as np
from numba import njit

from edge_lstm.runtime.kernels import lstm_cell
from edge_lstm.runtime.kernels.microkernel import target_features


@njit(cache=False)
def _cells(half, ax, ah, sx, sh, bias, c, h, h_state, u):
    if half:
        for j in range(0, u, 32):
            lstm_cell.lstm_cells32_q_half(ax, ah, sx, sh, bias, c, h, h_state, u, j)
    else:
        for j in range(0, u, 16):
            lstm_cell.lstm_cells16_q(ax, ah, sx, sh, bias, c, h, h_state, u, j)


def test_the_half_precision_cell_agrees_with_the_float_one():
    rng = np.random.default_rng(7)
    u = 64
    ax = rng.integers(-(2**15), 2**15, 4 * u).astype(np.int32)
    ah = rng.integers(-(2**15), 2**15, 4 * u).astype(np.int32)
    sx = np.full(4 * u, 6.0 / 2**15, np.float32)  # pre-activations over about [-13, 13]
    sh = np.full(4 * u, 6.0 / 2**15, np.float32)
    bias = rng.normal(0, 1, 4 * u).astype(np.float32)
    c0 = rng.uniform(-3, 3, u).astype(np.float32)
    out = {}
    for half in (False, True):
        c, h, h_state = c0.copy(), np.zeros(u, np.float32), np.zeros(u, np.float32)
        _cells(half, ax, ah, sx, sh, bias, c, h, h_state, u)
        assert np.array_equal(h, h_state)
        out[half] = c, h
    (c_f, h_f), (c_h, h_h) = out[False], out[True]
    assert np.abs(h_h - h_f).max() < 4e-3, np.abs(h_h - h_f).max()
    assert np.all(np.abs(c_h - c_f) < 4e-3 * (1 + np.abs(c_f))), np.abs(c_h - c_f).max()
    assert np.abs(h_h - h_f).max() > 0  # (it is the half cell: its rounding shows)


def test_the_kernel_uses_the_half_cell_exactly_where_the_cpu_has_avx512fp16():
    assert lstm_cell.HALF_GATES == ("avx512fp16" in target_features())
    assert lstm_cell.gate_path().startswith("half" if lstm_cell.HALF_GATES else "float32")
