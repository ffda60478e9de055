"""``edge-lstm bench``: latency and throughput per backend."""

from __future__ import annotations

import argparse
import json

from edge_lstm.cli.exits import EXIT_OK
from edge_lstm.errors import EdgeLSTMError


def run(args: argparse.Namespace) -> int:
    from edge_lstm.runtime.bench import markdown, run_bench
    from edge_lstm.runtime.kernels import BACKENDS

    try:
        counts = tuple(int(n) for n in args.streams.split(","))
    except ValueError:
        raise EdgeLSTMError(f"--streams {args.streams!r}: expected bank sizes such as 1,100,1000") from None
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or not backends:
        raise EdgeLSTMError(f"--backends: unknown {', '.join(map(repr, unknown)) or 'none given'} "
                            f"(known: {', '.join(sorted(BACKENDS))})")
    result = run_bench(args.bundle, backends, counts, keras_path=args.keras, budget_s=args.seconds,
                       core=None if args.no_pin else args.core)
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return EXIT_OK


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure latency and throughput per backend (a benchmark, not a test)",
                       description="µs per sample for one stream and stream-steps/s for banks of streams, per "
                                   "backend and against baselines, pinned to one core.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--backends", default="numpy,numba-f32,numba-int8,litert,litert-int8,cuda",
                   help="comma-separated backends (unavailable ones are reported as such)")
    p.add_argument("--streams", default="1,100,1000,10000", help="bank sizes, comma-separated")
    p.add_argument("--keras", metavar="MODEL", help="also time Keras and LiteRT re-running a sliding window")
    p.add_argument("--seconds", type=float, default=0.25, help="timing budget per measurement (default 0.25)")
    p.add_argument("--core", type=int, default=0, help="CPU core to pin to (default 0)")
    p.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
