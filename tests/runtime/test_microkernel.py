"""The micro-kernels' matrix products (int8 kernel: exact; float kernel: to rounding) against NumPy,
on every code path they compile to."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edge_lstm.runtime.kernels.microkernel import aligned, float_matmul_acc, int_matmul, pack_pairs, pack_rows

# (outputs, inputs, streams): partial blocks, odd inputs, one input, fewer streams than a group.
SHAPES = [(256, 65, 16), (16, 32, 3), (1, 16, 5), (96, 7, 8), (128, 96, 16), (48, 1, 1), (33, 130, 13)]


def check_shapes(seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for n, k, ts in SHAPES:
        w = rng.integers(-127, 128, (n, k)).astype(np.int8)
        k2, blocks = -(-k // 2), -(-n // 16)
        offset = 7 * 32  # a part packed after others in the same buffer
        wp = aligned([np.full(offset, 99, np.int16), pack_pairs(w)])
        rows = ts + 1  # one row past the streams: a sentinel no stream may write
        q = np.zeros((rows, 2 * k2 + 6), np.int16)
        q[:ts, 4 : 4 + k] = rng.integers(-32767, 32768, (ts, k))
        acc = np.full((rows, blocks * 16 + 16), -1, np.int32)
        int_matmul(acc, 16, q, 4, ts, wp, offset, k2, blocks)
        expected = q[:ts, 4 : 4 + k].astype(np.int64) @ w.T.astype(np.int64)
        np.testing.assert_array_equal(acc[:ts, 16 : 16 + n], expected, err_msg=f"shape {(n, k, ts)}")
        assert (acc[:, :16] == -1).all(), "wrote left of acc_col"
        assert (acc[ts:] == -1).all(), "wrote a row past the streams"
    check_float_shapes(seed)


def check_float_shapes(seed: int = 0) -> None:
    """The float kernel adds x @ W to what ``out`` holds, to float32 rounding."""
    rng = np.random.default_rng(seed)
    for n, k, ts in SHAPES:
        w = rng.normal(size=(k, n)).astype(np.float32)
        offset = 3 * 16
        wp = aligned([np.full(offset, 99, np.float32), pack_rows(w)], np.float32)
        rows, blocks = ts + 1, -(-n // 16)  # a sentinel row past the streams
        x = np.zeros((rows, k + 3), np.float32)
        x[:ts, 3:] = rng.normal(size=(ts, k))
        out = rng.normal(size=(rows, blocks * 16)).astype(np.float32)
        before = out.copy()
        float_matmul_acc(out, x, 3, ts, wp, offset, k, blocks)
        expected = before[:ts, :n] + x[:ts, 3:].astype(np.float64) @ w.astype(np.float64)
        np.testing.assert_allclose(out[:ts, :n], expected, rtol=1e-5, atol=1e-4, err_msg=f"shape {(n, k, ts)}")
        np.testing.assert_array_equal(out[ts:], before[ts:], err_msg="wrote a row past the streams")


def test_matmuls_are_exact_on_this_machine():
    check_shapes()


@pytest.mark.parametrize("cpu, features", [
    ("generic", ""),  # the portable IR (aarch64 and older x86 compile the same way)
    ("haswell", "+64bit,+avx,+avx2,+fma,+sse4.2,+sse4.1,+ssse3,+sse3,+sse2,+popcnt,+f16c,+bmi,+bmi2,+lzcnt,+movbe"),
])
def test_matmuls_are_exact_when_compiled_for_other_cpus(cpu, features):
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features)
    code = "from tests.runtime.test_microkernel import check_shapes; check_shapes(1)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0, done.stderr[-3000:]


def test_aligned_buffer_starts_on_a_cache_line_and_keeps_the_parts():
    parts = [np.arange(5, dtype=np.int16), np.arange(3, dtype=np.int16)]
    buf = aligned(parts)
    assert buf.ctypes.data % 64 == 0
    assert buf.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
