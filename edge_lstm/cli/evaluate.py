"""``edge-lstm evaluate``: replay labelled series through the streaming path and score detections."""

from __future__ import annotations

import argparse
from pathlib import Path

import edge_lstm
from edge_lstm.cli.exits import EXIT_OK
from edge_lstm.errors import EdgeLSTMError
from edge_lstm.runtime.kernels import BACKENDS


def run(args: argparse.Namespace) -> int:
    from edge_lstm.evaluate.corpus import evaluate
    from edge_lstm.serve.config import ConfigError, settings_config

    model = edge_lstm.load(args.bundle, backend=args.backend)
    try:
        config = settings_config(args.set or [], **({"restart_after_s": args.gap} if args.gap else {}))
    except ConfigError as exc:
        raise EdgeLSTMError(str(exc)) from None
    summary = evaluate(model, Path(args.data), Path(args.windows) if args.windows else None, Path(args.out),
                       config=config, standardise=args.standardise, detector_name=args.detector_name,
                       plots=not args.no_plots, progress=not args.quiet,
                       across_probation=args.judge_across_probation)
    for profile, score in summary["nab"].items():
        print(f"NAB {profile:<19} {score['score']:6.1f}  (threshold {score['threshold']:.4f})")
    inc = summary["incidents"]
    print(f"events: {inc['detected']} of {inc['windows']} windows found, {inc['false']} false incidents; precision "
          f"{inc['precision']:.2f} recall {inc['recall']:.2f} F1 {inc['f1']:.2f}")
    print(f"protocol: {summary['protocol']}")
    print(f"wrote {args.out}/summary.md, results under {args.out}/{args.detector_name}/")
    return EXIT_OK


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="replay labelled series through the streaming path and score detections",
                       description="Replay every CSV (timestamp,value[,...]) under DATA one sample at a time through "
                                   "the bundle and the detector, with no look-ahead; write NAB-layout results, NAB "
                                   "scores, incident and forecast metrics, one PNG per file and summary.md.")
    p.add_argument("data", help="a CSV or a folder of CSVs (e.g. ../shared/data/nab-dev)")
    p.add_argument("--bundle", required=True, help="bundle directory")
    p.add_argument("--windows", metavar="JSON", help="labelled windows {\"path/file.csv\": [[start, end], ...]}")
    p.add_argument("--out", required=True, metavar="DIR", help="results directory")
    p.add_argument("--backend", default="numba-int8", choices=sorted(BACKENDS), help="step kernel (default numba-int8)")
    p.add_argument("--standardise", choices=("bundle", "probation", "none"), default="bundle",
                   help="bundle (default): scale each stream as the bundle says, like the daemon; probation: by "
                        "its probation rows (probation.json beside the data, else NAB's first 15%%, at most 750 rows: "
                        "a model trained with --head probation --standardise); none")
    p.add_argument("--gap", type=float, metavar="SECONDS",
                   help="restart a stream after a silence this long (input.restart_after_s; default never, as the "
                        "daemon)")
    p.add_argument("--judge-across-probation", action="store_true",
                   help="judge the forecast and pattern windows that span the end of a file's probation rows (by "
                        "default they are learned, not judged: a benchmark's test part may be another recording "
                        "than its training part)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="a setting as serve takes it: anomaly.KEY=VALUE (the config's [anomaly] table; the section "
                        "may be left out), forecast.KEY=VALUE, or input.KEY=VALUE (settle, clock_reset, "
                        "restart_after_s) (repeatable)")
    p.add_argument("--detector-name", default="edgelstm", help="name in NAB's results layout (default edgelstm)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
