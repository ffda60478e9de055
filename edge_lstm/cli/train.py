"""``edge-lstm train``: train a forecaster on a series (needs TensorFlow)."""

from __future__ import annotations

import argparse
import sys

from edge_lstm.cli.exits import EXIT_OK, EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    try:
        from converter.train import train
    except ImportError as exc:  # pragma: no cover - depends on the install
        print(f"edge-lstm train needs the convert extra ({exc}): pip install 'edge-lstm[convert]'", file=sys.stderr)
        return EXIT_USAGE
    report = train(args.data, args.out, window=args.window, units=tuple(int(u) for u in args.units.split(",")),
                   dense=args.dense, cell=args.cell, horizon=args.horizon, epochs=args.epochs, patience=args.patience,
                   columns=args.columns.split(",") if args.columns else None, seed=args.seed, head=args.head,
                   standardise=args.standardise, difference=args.difference, max_sequences=args.max_sequences,
                   burn_in=args.burn_in, loss=args.loss, progress=not args.quiet)
    copies = f" and {report.copies} rescaled copies" if report.copies else ""
    print(f"wrote {args.out} ({report.epochs_run} epochs on {report.train_sequences:,} sequences of {report.window} "
          f"samples from {report.series} series{copies})")
    if report.refused_rows:
        print(f"left out {report.refused_rows:,} rows with a value that is not a finite number, as the daemon "
              "refuses such a sample")
    print(f"validation: each of the {report.series} series streamed whole from zero state, as the daemon runs it, "
          f"judged on its last 20%:")
    print(f"  model        RMSE {report.val_rmse:.4g}  MAE {report.val_mae:.4g}")
    print(f"  last value   RMSE {report.naive_rmse:.4g}  MAE {report.naive_mae:.4g}")
    print(f"  skill (1 - RMSE/naive RMSE): {report.skill:+.3f}")
    return EXIT_OK


def _head(text: str) -> str | float:
    if text == "probation":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'probation' or a fraction, not {text!r}") from None


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a forecaster of the seed's shape on a series (needs TensorFlow)",
                       description="Fit LSTM/GRU layers → Dense → Dense(horizon) on a CSV series, a folder of "
                                   "CSVs or a firmware_sim export, split in time order; save a .keras ready "
                                   "for `edge-lstm convert` and a .report.json.")
    p.add_argument("data", help="a CSV (timestamp,value[,...]) or a folder of CSVs")
    p.add_argument("--out", required=True, metavar="MODEL.keras", help="where to save the model")
    p.add_argument("--window", type=int, default=256, help="samples per training sequence, a forecast at each; the "
                   "model runs on streams of any length (default 256)")
    p.add_argument("--burn-in", type=int, default=32, metavar="N",
                   help="first samples of each sequence not judged, while the state settles (default 32)")
    p.add_argument("--units", default="64,32", help="recurrent units per layer (default 64,32)")
    p.add_argument("--dense", type=int, default=16, help="units of the hidden Dense layer (default 16)")
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    p.add_argument("--horizon", type=int, default=1, help="samples forecast ahead (default 1)")
    p.add_argument("--epochs", type=int, default=25,
                   help="at most this many epochs (default 25, with --max-sequences 600: the budget the detector's "
                        "defaults were measured with; 50 on 1,000 forecast better but raised more false incidents "
                        "there: docs/evaluation.md)")
    p.add_argument("--patience", type=int, default=5, help="early stopping patience in epochs")
    p.add_argument("--columns", metavar="A,B", help="feature columns (default: every numeric column)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-sequences", type=int, default=600, metavar="N",
                   help="train on at most N sequences, drawn at random, and validate on at most N (default 600)")
    p.add_argument("--head", type=_head, metavar="probation|FRACTION",
                   help="learn only from the start of each series: probation = the rows the evaluation protocol "
                        "allows (probation.json beside the data, else NAB's first 15%%, at most 750 rows), or a "
                        "FRACTION of each")
    p.add_argument("--standardise", type=int, nargs="?", const=0, metavar="N",
                   help="scale each series by the mean and std of its first N samples (no N: all of it): one "
                        "model for series of any units; serve with input.standardise = N")
    p.add_argument("--difference", action="store_true",
                   help="with --standardise: learn from each sample's change over the spread of the changes in "
                        "those N samples, and forecast the change (for noise small against the operating range)")
    p.add_argument("--loss", choices=("huber", "mse"), default="huber",
                   help="training loss on the scaled target: huber (squared within one spread, linear beyond, so "
                        "the outliers of the rows learned from do not pull the forecaster; default) or mse")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
