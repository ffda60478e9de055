"""Measure what quantising the LSTM cell state c costs, all else exact (float32 reference kernel).

Streams the float reference over a series, rounding every LSTM's c to a symmetric int8 or int16
grid (scale = largest |c| seen on the same streams / qmax) after every step, and reports the RMS
error of the outputs against the unrounded stream, relative to the output's std.

    python benchmarks/cell_state_precision.py BUNDLE STREAMS.npy   # STREAMS: (N, T, F)
"""

from __future__ import annotations

import sys

import numpy as np

import edge_lstm
from edge_lstm.runtime.kernels.reference import ReferenceKernel


def stream(bundle: edge_lstm.Bundle, xs: np.ndarray, qmax: int | None, c_absmax: dict[str, float]) -> np.ndarray:
    kernel = ReferenceKernel(bundle)
    state = kernel.new_state(xs.shape[0])
    cells = [s for s in bundle.spec.state_slots if s.key.endswith("/c")]
    outs = []
    for t in range(xs.shape[1]):
        outs.append(kernel.step(state, np.ascontiguousarray(xs[:, t], dtype=np.float32)))
        for s in cells:
            c = state[:, s.offset : s.offset + s.size]
            c_absmax[s.key] = max(c_absmax.get(s.key, 0.0), float(np.abs(c).max()))
            if qmax:
                scale = c_absmax[s.key] / qmax
                state[:, s.offset : s.offset + s.size] = np.clip(np.rint(c / scale), -qmax, qmax) * scale
    return np.stack(outs, axis=1)


def main(bundle_path: str, streams_path: str) -> None:
    bundle = edge_lstm.read_bundle(bundle_path)
    xs = np.load(streams_path)
    absmax: dict[str, float] = {}
    exact = stream(bundle, xs, None, absmax)
    print("| cell state c | RMS error / output std |\n|---|---:|")
    print("| float32 | 0 (reference) |")
    for bits, qmax in (("int16", 32767), ("int8", 127)):
        approx = stream(bundle, xs, qmax, dict(absmax))
        err = np.sqrt(np.mean((approx - exact) ** 2)) / exact.std()
        print(f"| {bits} | {err:.5f} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
