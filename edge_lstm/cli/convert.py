"""``edge-lstm convert``: convert a Keras model into a bundle and report parity."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import edge_lstm
from edge_lstm.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from edge_lstm.errors import EdgeLSTMError


def run(args: argparse.Namespace) -> int:
    names = args.feature_names.split(",") if args.feature_names else None
    model = Path(args.model)
    if not model.is_file():  # (checked before TensorFlow loads, and before the calibration data)
        raise EdgeLSTMError(f"{model}: no such model file (a .keras or .h5 that Keras saved)")
    if Path(args.out).exists() and not args.force:
        raise EdgeLSTMError(f"--out {args.out} already exists: pass --force to replace it")
    try:
        from converter.convert import convert
    except ImportError as exc:  # pragma: no cover - depends on the install
        print(f"edge-lstm convert needs the convert extra ({exc}): pip install 'edge-lstm[convert]'", file=sys.stderr)
        return EXIT_USAGE
    calibration = args.calibration or model.with_suffix(".calibration.npy")
    if not Path(calibration).exists():
        raise EdgeLSTMError(f"no --calibration given and no {calibration} (edge-lstm train writes one)")
    standardise, difference, training = _trained_preprocessing(model)
    if standardise:
        what = "the changes of streams, scaled by those of" if difference else "streams scaled by"
        print(f"{model.with_suffix('.report.json')}: trained on {what} their first {standardise} "
              "samples; recorded in the bundle (edge-lstm serve applies it)")
    result = convert(model, calibration, args.out, feature_names=names, window=args.window, standardise=standardise,
                     difference=difference, training=training, overwrite=args.force, progress=not args.quiet)
    spec = edge_lstm.read_bundle(result.path).spec
    print(f"wrote {result.path}: {len(spec.layers)} layers, {spec.features} feature(s) in, {spec.outputs} out")
    print("parity against Keras on the calibration windows:")
    print(f"  {'backend':<11} {'max abs err':>12} {'rms err':>12} {'max/std':>10} {'rms/std':>10}  ok")
    ok = True
    checked = set(args.check.split(",")) if args.check else set(result.parity)
    for backend, r in result.parity.items():
        verdict = VERDICTS[r.get("within_tolerance")]
        if backend not in checked and r.get("within_tolerance") is False:
            verdict = "NO (not checked: do not use this backend)"
        ok &= r.get("within_tolerance") is not False or backend not in checked
        _print_parity(backend, r, verdict)
    _print_ill_conditioned(result.parity)
    streams = {b: r["stream"] for b, r in result.parity.items() if "stream" in r}
    if streams:
        steps = next(iter(streams.values()))["steps"]
        print(f"parity against Keras on one stream of {steps:,} samples, state carried (as the daemon runs it):")
        for backend, r in streams.items():
            _print_parity(backend, r, VERDICTS[r.get("within_tolerance")])
    if not ok:
        print("a backend is outside tolerance: do not deploy this bundle; please report it", file=sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


VERDICTS = {True: "yes", False: "NO", None: "(for comparison)"}


def _print_parity(backend: str, r: dict, verdict: str) -> None:
    print(f"  {backend:<11} {r['max_abs_error']:>12.3g} {r['rms_error']:>12.3g} {r['max_error_vs_std']:>10.3g} "
          f"{r['rms_error_vs_std']:>10.3g}  {verdict}")


def _print_ill_conditioned(report: dict) -> None:
    ill = max((r.get("ill_conditioned", 0) for r in report.values()), default=0)
    if ill:
        print(f"  ({ill:,} outputs are ill-conditioned: nudging the inputs by float32's last digits moves them past "
              "the tolerance, so Keras and any float32 kernel differ there too; float backends are judged there "
              "against that movement)")


def _trained_preprocessing(model: Path) -> tuple[int, bool, dict | None]:
    """N, whether the model forecasts changes, and what it learned from (data, head, seed, loss), from the
    ``.report.json`` that ``edge-lstm train --standardise N [--difference]`` left beside the model; else
    (0, False, None)."""
    report = model.with_suffix(".report.json")
    try:
        trained = json.loads(report.read_text()) if report.exists() else {}
        training = {k: trained[k] for k in ("data", "head", "seed", "loss") if k in trained} or None
        return int(trained.get("standardise") or 0), bool(trained.get("difference")), training
    except (ValueError, OSError) as exc:
        raise EdgeLSTMError(f"{report}: unreadable ({exc})") from None


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a Keras model (.keras, .h5) into a bundle",
                       description="Convert a Keras model into a bundle directory and report parity per backend.")
    p.add_argument("model", help="the .keras or .h5 model file")
    p.add_argument("--calibration", metavar="DATA",
                   help="input windows (.npy of shape (N, T, F)) or a raw series (.npz, .csv) to window "
                        "(default: MODEL's .calibration.npy, which edge-lstm train writes)")
    p.add_argument("--out", required=True, metavar="BUNDLE_DIR", help="bundle directory to write")
    p.add_argument("--window", type=int, help="window length for raw-series calibration data (default: the "
                   "model's input length, else 50)")
    p.add_argument("--feature-names", metavar="A,B,…", help="names of the input features, stored in the bundle")
    p.add_argument("--force", action="store_true", help="replace BUNDLE_DIR if it exists")
    p.add_argument("--check", metavar="B1,B2", help="backends whose parity decides the exit status (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
