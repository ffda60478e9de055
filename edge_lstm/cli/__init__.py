"""The ``edge-lstm`` command line: one module per command, each with ``add(sub)`` (its parser) and ``run(args)``.

Exit codes: 0 success; 1 the work failed (verification failed, a runtime error); 2 bad usage or bad
input (unreadable file, unsupported model, wrong shapes) — the message says which; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

import edge_lstm
from edge_lstm.cli import bench, convert, demo, evaluate, inspect, run, serve, sim, train
from edge_lstm.cli.exits import EXIT_USAGE
from edge_lstm.errors import EdgeLSTMError

COMMANDS = (convert, train, run, demo, evaluate, inspect, bench, serve, sim)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-lstm",
        description="Streaming LSTM inference, one sample at a time, for many sensor streams.",
        epilog="Exit codes: 0 success, 1 the work failed (e.g. verification), 2 bad usage or input, 130 interrupted "
               "(the demo and the daemon stop cleanly on Ctrl-C and exit 0).",
    )
    parser.add_argument("--version", action="version", version=f"edge-lstm {edge_lstm.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EdgeLSTMError as exc:
        print(f"edge-lstm {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
