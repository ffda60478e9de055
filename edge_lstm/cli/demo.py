"""``edge-lstm demo``: the whole product in one command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_lstm.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from edge_lstm.errors import EdgeLSTMError
from edge_lstm.runtime.kernels import BACKENDS


def run(args: argparse.Namespace) -> int:
    try:
        from edge_lstm.demo.run import DemoOptions, bundle_path, run_demo
    except ImportError as exc:  # pragma: no cover - depends on the install
        print(f"edge-lstm demo needs the demo extra ({exc}): pip install 'edge-lstm[demo]'", file=sys.stderr)
        return EXIT_USAGE
    if not (bundle_path() / "manifest.json").exists():
        raise EdgeLSTMError(f"the demo's pretrained bundle is missing from {bundle_path()}: make demo-bundle")
    if args.duration <= 0 or args.speed <= 0:
        raise EdgeLSTMError("--duration and --speed must be positive")
    options = DemoOptions(duration_s=args.duration, speed=args.speed, broker=args.broker, embedded=args.embedded,
                          out=Path(args.out), backend=args.backend, live=False if args.no_live else None,
                          seed=args.seed)
    try:
        run_demo(options)
    except (RuntimeError, ConnectionError) as exc:
        print(f"edge-lstm demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # before the simulation started: nothing to report
        print("edge-lstm demo: interrupted while starting", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole product in one command: simulated machines, MQTT, the daemon, a report",
                       description="Start a broker (a private Mosquitto when installed, else the one on "
                                   "localhost:1883, else an embedded amqtt one), the daemon with the shipped "
                                   "pretrained bundle, and simulated motors and a pump with injected faults; show a "
                                   "live view; write PNGs and a summary of detections, misses, false alarms and "
                                   "latency to --out. Ctrl-C stops cleanly.")
    p.add_argument("--duration", type=float, default=60.0, help="wall-clock seconds to run (default 60)")
    p.add_argument("--speed", type=float, default=60.0,
                   help="simulated seconds per wall second (default 60: an hour of machine time a minute)")
    p.add_argument("--broker", metavar="URL", help="use this running broker instead (mqtt://host:port)")
    p.add_argument("--embedded", action="store_true", help="use the embedded amqtt broker even if Mosquitto exists")
    p.add_argument("--backend", default="numba-int8", choices=sorted(BACKENDS), help="step kernel (default numba-int8)")
    p.add_argument("--out", default="demo-report", metavar="DIR", help="report directory (default demo-report)")
    p.add_argument("--no-live", action="store_true", help="progress lines instead of the live table")
    p.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    p.set_defaults(func=run)
