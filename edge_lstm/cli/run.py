"""``edge-lstm run``: stream an array through a bundle from zero state."""

from __future__ import annotations

import argparse

import numpy as np

import edge_lstm
from edge_lstm.cli.exits import EXIT_OK
from edge_lstm.errors import EdgeLSTMError
from edge_lstm.runtime.kernels import BACKENDS


def run(args: argparse.Namespace) -> int:
    model = edge_lstm.load(args.bundle, backend=args.backend)
    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as exc:
        reason = "not a .npy array file" if "pickle" in str(exc) else str(exc)
        raise EdgeLSTMError(f"{args.input}: cannot be read as .npy ({reason})") from None
    try:
        y = model.run(x)
    except (ValueError, TypeError) as exc:
        raise EdgeLSTMError(f"{args.input}: {exc}") from None
    np.save(args.output, y)
    print(f"wrote {args.output}: shape {y.shape} ({args.backend})")
    return EXIT_OK


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="stream an array through a bundle from zero state",
                       description="Feed X (T, F) or (N, T, F) one sample at a time; save every step's output.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--backend", default="numba-f32", choices=sorted(BACKENDS), help="step kernel (default numba-f32)")
    p.add_argument("--input", required=True, metavar="X.npy", help="input array (T, F) or (N, T, F)")
    p.add_argument("--output", required=True, metavar="Y.npy", help="where to save outputs (T, out) or (N, T, out)")
    p.set_defaults(func=run)
