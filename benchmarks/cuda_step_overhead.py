"""Where a ``cuda`` step's time goes: the whole step beside its parts, for a few bank sizes (needs a GPU).

    python benchmarks/cuda_step_overhead.py BUNDLE [--streams 1,1000,100000] [--spb 2 --max-width 1024]

Rows: ``bank.step`` as the engine calls it; the kernel launch alone (buffers already on the GPU, then a
synchronise); an empty kernel's launch and synchronise (the floor any launch pays); copying the inputs in and
the outputs out through pinned memory. ``--spb`` and ``--max-width`` compile the kernel with another number of
streams per block and width of its shared buffers (three ``spb`` x ``max-width`` float32 arrays, 48 KB at most).
"""

from __future__ import annotations

import argparse

import numpy as np
from numba import cuda

import edge_lstm
from edge_lstm.runtime.kernels import cuda as cuda_kernel
from edge_lstm.runtime.timing import time_calls


@cuda.jit
def _empty(out):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--streams", default="1,1000,100000")
    parser.add_argument("--spb", type=int, default=cuda_kernel.SPB, help="streams per thread block")
    parser.add_argument("--max-width", type=int, default=cuda_kernel.MAX_WIDTH, help="shared buffers' width")
    args = parser.parse_args()
    cuda_kernel.SPB, cuda_kernel.MAX_WIDTH = args.spb, args.max_width  # read when the kernel first compiles
    print(f"streams per block {args.spb}, shared width {args.max_width}")
    model = edge_lstm.load(args.bundle, "cuda")
    kernel = model.kernel
    print("| streams | bank.step µs | launch + sync µs | empty launch + sync µs | copy in µs | copy out µs |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in (int(v) for v in args.streams.split(",")):
        bank = model.streams(n)
        x = np.random.default_rng(0).normal(size=(n, model.features)).astype(np.float32)
        full, _ = time_calls(lambda bank=bank, x=x: bank.step(x))
        stream, h_x, _, h_out, d_x, _, d_out = kernel._buffers(n)

        def launch(d_x=d_x, state=bank._state, d_out=d_out, n=n, stream=stream):
            kernel._launch(d_x, kernel._no_rows, False, state, d_out, n, stream)
            stream.synchronize()

        def empty(d_out=d_out, stream=stream):
            _empty[1, 32, stream](d_out)
            stream.synchronize()

        def copy_in(d_x=d_x, h_x=h_x, stream=stream):
            d_x.copy_to_device(h_x, stream=stream)
            stream.synchronize()

        def copy_out(d_out=d_out, h_out=h_out, stream=stream):
            d_out.copy_to_host(h_out, stream=stream)
            stream.synchronize()

        parts = [time_calls(f)[0] for f in (launch, empty, copy_in, copy_out)]
        print(f"| {n:,} | " + " | ".join(f"{v * 1e6:.1f}" for v in (full, *parts)) + " |")


if __name__ == "__main__":
    main()
