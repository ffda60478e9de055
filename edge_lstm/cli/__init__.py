"""The ``edge-lstm`` command line.

Exit codes: 0 success; 1 the work failed (verification failed, a runtime error); 2 bad usage or bad
input (unreadable file, unsupported model, wrong shapes) — the message says which; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import edge_lstm
from edge_lstm.errors import EdgeLSTMError
from edge_lstm.runtime.bundle import read_manifest, verify_files
from edge_lstm.runtime.kernels import BACKENDS

if TYPE_CHECKING:
    from edge_lstm.serve.daemon import Daemon

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _cmd_convert(args: argparse.Namespace) -> int:
    try:
        from converter.convert import convert
    except ImportError as exc:  # pragma: no cover - depends on the install
        print(f"edge-lstm convert needs the convert extra ({exc}): pip install 'edge-lstm[convert]'", file=sys.stderr)
        return EXIT_USAGE
    names = args.feature_names.split(",") if args.feature_names else None
    model = Path(args.model)
    calibration = args.calibration or model.with_suffix(".calibration.npy")
    if not Path(calibration).exists():
        raise EdgeLSTMError(f"no --calibration given and no {calibration} (edge-lstm train writes one)")
    standardise, difference = _trained_preprocessing(model)
    if standardise:
        what = "the changes of streams, scaled by those of" if difference else "streams scaled by"
        print(f"{model.with_suffix('.report.json')}: trained on {what} their first {standardise} "
              "samples; recorded in the bundle (edge-lstm serve applies it)")
    result = convert(model, calibration, args.out, feature_names=names, window=args.window, standardise=standardise,
                     difference=difference, overwrite=args.force, progress=not args.quiet)
    spec = edge_lstm.read_bundle(result.path).spec
    print(f"wrote {result.path}: {len(spec.layers)} layers, {spec.features} feature(s) in, {spec.outputs} out")
    print("parity against Keras on the calibration windows:")
    print(f"  {'backend':<11} {'max abs err':>12} {'rms err':>12} {'max/std':>10} {'rms/std':>10}  ok")
    ok = True
    checked = set(args.check.split(",")) if args.check else set(result.parity)
    for backend, r in result.parity.items():
        verdict = {True: "yes", False: "NO", None: "(for comparison)"}[r.get("within_tolerance")]
        if backend not in checked and r.get("within_tolerance") is False:
            verdict = "NO (not checked: do not use this backend)"
        ok &= r.get("within_tolerance") is not False or backend not in checked
        print(f"  {backend:<11} {r['max_abs_error']:>12.3g} {r['rms_error']:>12.3g} {r['max_error_vs_std']:>10.3g} "
              f"{r['rms_error_vs_std']:>10.3g}  {verdict}")
    if not ok:
        print("a backend is outside tolerance: do not deploy this bundle; please report it", file=sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


def _trained_preprocessing(model: Path) -> tuple[int, bool]:
    """N and whether the model forecasts changes, from the ``.report.json`` that ``edge-lstm train --standardise N
    [--difference]`` left beside the model; else (0, False)."""
    report = model.with_suffix(".report.json")
    try:
        trained = json.loads(report.read_text()) if report.exists() else {}
        return int(trained.get("standardise") or 0), bool(trained.get("difference"))
    except (ValueError, OSError) as exc:
        raise EdgeLSTMError(f"{report}: unreadable ({exc})") from None


def _cmd_train(args: argparse.Namespace) -> int:
    try:
        from converter.train import train
    except ImportError as exc:  # pragma: no cover - depends on the install
        print(f"edge-lstm train needs the convert extra ({exc}): pip install 'edge-lstm[convert]'", file=sys.stderr)
        return EXIT_USAGE
    report = train(args.data, args.out, window=args.window, units=tuple(int(u) for u in args.units.split(",")),
                   dense=args.dense, cell=args.cell, horizon=args.horizon, epochs=args.epochs, patience=args.patience,
                   columns=args.columns.split(",") if args.columns else None, seed=args.seed, head=args.head,
                   standardise=args.standardise, difference=args.difference, max_windows=args.max_windows,
                   progress=not args.quiet)
    print(f"wrote {args.out} ({report.epochs_run} epochs on {report.train_windows:,} windows of {report.window})")
    print(f"validation ({report.validation_windows:,} windows, the last 20% of each series in time):")
    print(f"  model        RMSE {report.val_rmse:.4g}  MAE {report.val_mae:.4g}")
    print(f"  last value   RMSE {report.naive_rmse:.4g}  MAE {report.naive_mae:.4g}")
    print(f"  skill (1 - RMSE/naive RMSE): {report.skill:+.3f}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from edge_lstm.evaluate.corpus import evaluate
    from edge_lstm.serve.config import ConfigError, detector_config, forecast_settings
    from edge_lstm.stream.engine import EngineConfig

    model = edge_lstm.load(args.bundle, backend=args.backend)
    items = args.set or []
    try:
        detector = detector_config([item for item in items if not item.startswith("forecast.")])
        forecast = forecast_settings([item for item in items if item.startswith("forecast.")])
    except ConfigError as exc:
        raise EdgeLSTMError(str(exc)) from None
    config = EngineConfig(gap_s=args.gap if args.gap else float("inf"), detector=detector,
                          interval_z=forecast["interval_z"], fallback=forecast["fallback"],
                          fallback_alpha=forecast["fallback_alpha"])
    summary = evaluate(model, Path(args.data), Path(args.windows) if args.windows else None, Path(args.out),
                       config=config, standardise=args.standardise, detector_name=args.detector_name,
                       plots=not args.no_plots, progress=not args.quiet)
    for profile, score in summary["nab"].items():
        print(f"NAB {profile:<19} {score['score']:6.1f}  (threshold {score['threshold']:.4f})")
    inc = summary["incidents"]
    print(f"incidents: precision {inc['precision']:.2f} recall {inc['recall']:.2f} F1 {inc['f1']:.2f} "
          f"({inc['false']} false over {summary['samples']:,} samples)")
    print(f"wrote {args.out}/summary.md, results under {args.out}/{args.detector_name}/")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
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


def _cmd_run(args: argparse.Namespace) -> int:
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


def _cmd_inspect(args: argparse.Namespace) -> int:
    path = Path(args.bundle)
    manifest = read_manifest(path)
    problems = verify_files(path, manifest)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        model = manifest.get("model", {})
        inp, out = model.get("input", {}), model.get("output", {})
        print(f"bundle      {path}")
        print(f"format      {manifest['format']} {manifest['format_version']}")
        conv = manifest.get("converter", {})
        print(f"converter   edge-lstm {conv.get('version', '?')} (keras {conv.get('keras_version', '?')})")
        src = manifest.get("source", {})
        print(f"source      {src.get('file', '?')} sha256 {src.get('sha256', '?')[:16]}…")
        names = ", ".join(inp.get("feature_names") or []) or "unnamed"
        print(f"input       {inp.get('features')} feature(s) ({names}), trained window {inp.get('window')}")
        norm = inp.get("normalization", {})
        print(f"normalise   x * {norm.get('scale')} + {norm.get('offset')}")
        for i, layer in enumerate(model.get("layers", [])):
            extra = f" reset_after={layer['reset_after']}" if "reset_after" in layer else ""
            print(f"layer {i:<5} {layer['type']:<10} {layer['input_dim']:>4} → {layer['units']:<4} "
                  f"{layer.get('activation', '')} {layer.get('name', '')}{extra}")
        print(f"output      {out.get('size')} value(s), shape {out.get('shape')}"
              f"{', every step of the window' if out.get('sequence') else ''}")
        parity_name = manifest.get("parity_report")
        if parity_name and (path / parity_name).is_file() and parity_name not in [p.split(":")[0] for p in problems]:
            report = json.loads((path / parity_name).read_text())
            for backend, r in report.get("backends", {}).items():
                print(f"parity      {backend:<10} max err {r['max_abs_error']:.3g}, rms err {r['rms_error']:.3g} "
                      f"on {report.get('windows')} windows")
        for name, meta in manifest.get("files", {}).items():
            print(f"file        {name:<22} {meta.get('bytes'):>10} bytes  sha256 {str(meta.get('sha256'))[:16]}…")
    if problems:
        for p in problems:
            print(f"FAILED      {p}", file=sys.stderr)
        return EXIT_FAILED
    summary = f"verified    all {len(manifest['files'])} files match their sha256"
    print(summary, file=sys.stderr if args.json else sys.stdout)
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from edge_lstm.runtime.bench import markdown, run_bench

    counts = tuple(int(n) for n in args.streams.split(","))
    backends = args.backends.split(",")
    result = run_bench(args.bundle, backends, counts, keras_path=args.keras, budget_s=args.seconds,
                       core=None if args.no_pin else args.core)
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    return EXIT_OK


def _cmd_sim(args: argparse.Namespace) -> int:
    from firmware_sim.scenario import BUILTIN, ScenarioError, load_scenario

    try:
        if args.sim_command == "list":
            for name in BUILTIN:
                s = load_scenario(name)
                streams = sum(len(d.channels) for d in s.devices)
                print(f"{name:<16} {len(s.devices):>5} devices {streams:>6} streams {s.duration_s / 3600:>6.1f} h  "
                      f"{s.description}")
            return EXIT_OK
        scenario = load_scenario(args.scenario)
        if args.duration:
            from firmware_sim.scenario import parse_duration

            scenario = scenario.with_duration(parse_duration(args.duration, "--duration"))
    except ScenarioError as exc:
        raise EdgeLSTMError(f"scenario: {exc}") from None
    if args.sim_command == "export":
        from firmware_sim.export import export

        rows = export(scenario, args.out)
        print(f"wrote {len(rows)} series ({sum(rows.values()):,} samples) and labels.json to {args.out}")
        return EXIT_OK
    from edge_lstm.serve.broker import parse_broker_url
    from firmware_sim.publisher import publish

    try:
        broker = parse_broker_url(args.broker)
    except ValueError as exc:
        raise EdgeLSTMError(str(exc)) from None
    speed = 0.0 if args.speed == "max" else float(args.speed)
    try:
        report = publish(scenario, broker, speed=speed, ca_file=args.ca_file)
    except ConnectionError as exc:
        raise EdgeLSTMError(str(exc)) from None
    print(f"published {report.messages:,} messages ({report.samples:,} samples) in {report.seconds:.1f} s: "
          f"{report.rate:,.0f} messages/s; {dict(report.kinds)}")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from edge_lstm.serve.config import FLAG_KEYS, ConfigError, load_config

    overrides: dict[str, object] = {}
    for flag, dotted in FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[dotted] = value
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise EdgeLSTMError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        overrides[key.strip()] = value
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        raise EdgeLSTMError(f"config: {exc}") from None
    logging.basicConfig(level=logging.INFO if not args.quiet else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from edge_lstm.serve.daemon import Daemon

    metrics_port = config["stats"]["metrics_port"]
    if args.check:  # (a running daemon may hold the port: --check does not open it)
        config["stats"]["metrics_port"] = 0
    try:
        daemon = Daemon(config)
    except ConfigError as exc:
        raise EdgeLSTMError(f"config: {exc}") from None
    if args.check:
        print(_serve_plan(daemon, metrics_port))
        return EXIT_OK
    return daemon.run()


def _serve_plan(daemon: Daemon, metrics_port: int) -> str:
    """What ``serve`` would do with this configuration (``--check``): nothing connected, nothing published."""
    config, bundle = daemon.config, daemon.model.bundle
    mc, ic, state = config["mqtt"], config["input"], config["state"]
    limit = (f"; at most {ic['max_streams']:,} streams, the least recently heard from evicted"
             if ic["max_streams"] else "")
    lines = [
        "configuration OK; the daemon would:",
        f"  run the bundle {config['model']['bundle']} (sha256 {bundle.sha256[:12]}…) on {daemon.model.backend}",
        f"  connect to {daemon.broker} (MQTT {mc['protocol']}, QoS {mc['qos']}) as edge-lstm/{daemon.node}",
        f"  subscribe to {', '.join(ic['subscribe'])} (stream id {ic['stream']}{limit})",
        f"  checkpoint to {state['checkpoint']}: {daemon.restored}" if state["checkpoint"] else
        "  keep no checkpoint (state.checkpoint is empty): a restart warms every stream up again",
    ]
    if metrics_port:
        lines.append(f"  serve Prometheus metrics on port {metrics_port}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-lstm",
        description="Streaming LSTM inference, one sample at a time, for many sensor streams.",
        epilog="Exit codes: 0 success, 1 the work failed (e.g. verification), 2 bad usage or input, 130 interrupted "
               "(the demo and the daemon stop cleanly on Ctrl-C and exit 0).",
    )
    parser.add_argument("--version", action="version", version=f"edge-lstm {edge_lstm.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("train", help="train a forecaster of the seed's shape on a series (needs TensorFlow)",
                       description="Fit LSTM/GRU layers → Dense → Dense(horizon) on a CSV series, a folder of "
                                   "CSVs or a firmware_sim export, split in time order; save a .keras ready "
                                   "for `edge-lstm convert` and a .report.json.")
    p.add_argument("data", help="a CSV (timestamp,value[,...]) or a folder of CSVs")
    p.add_argument("--out", required=True, metavar="MODEL.keras", help="where to save the model")
    p.add_argument("--window", type=int, default=50, help="input window in samples (default 50)")
    p.add_argument("--units", default="64,32", help="recurrent units per layer (default 64,32)")
    p.add_argument("--dense", type=int, default=16, help="units of the hidden Dense layer (default 16)")
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    p.add_argument("--horizon", type=int, default=1, help="samples forecast ahead (default 1)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--patience", type=int, default=5, help="early stopping patience in epochs")
    p.add_argument("--columns", metavar="A,B", help="feature columns (default: every numeric column)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-windows", type=int, default=20_000, metavar="N",
                   help="train on at most N windows, drawn at random (default 20000); early stopping watches at "
                        "most N evenly spaced validation windows")
    p.add_argument("--head", type=float, metavar="FRACTION",
                   help="learn only from the first FRACTION of each series (NAB's probationary 0.15)")
    p.add_argument("--standardise", type=int, nargs="?", const=0, metavar="N",
                   help="scale each series by the mean and std of its first N samples (no N: all of it): one "
                        "model for series of any units; serve with input.standardise = N")
    p.add_argument("--difference", action="store_true",
                   help="with --standardise: learn from each sample's change over the spread of the changes in "
                        "those N samples, and forecast the change (for noise small against the operating range)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("run", help="stream an array through a bundle from zero state",
                       description="Feed X (T, F) or (N, T, F) one sample at a time; save every step's output.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--backend", default="numba-f32", choices=sorted(BACKENDS), help="step kernel (default numba-f32)")
    p.add_argument("--input", required=True, metavar="X.npy", help="input array (T, F) or (N, T, F)")
    p.add_argument("--output", required=True, metavar="Y.npy", help="where to save outputs (T, out) or (N, T, out)")
    p.set_defaults(func=_cmd_run)

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
    p.set_defaults(func=_cmd_demo)

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
                        "its first 15%% (a model trained with --head 0.15 --standardise); none")
    p.add_argument("--gap", type=float, metavar="SECONDS",
                   help="reset a stream after a silence this long (default never)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a detector setting, as in the config's [anomaly] table, or forecast.KEY=VALUE of its "
                        "[forecast] table (interval_z, fallback, fallback_alpha) (repeatable)")
    p.add_argument("--detector-name", default="edgelstm", help="name in NAB's results layout (default edgelstm)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("inspect", help="print a bundle's manifest and verify its files",
                       description="Print the manifest of a bundle and check every file's size and sha256.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--json", action="store_true", help="print the raw manifest.json")
    p.set_defaults(func=_cmd_inspect)

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
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("serve", help="run the MQTT daemon: samples in, anomaly and forecast events out",
                       description="Subscribe to sensor topics, step the LSTM one sample at a time per stream, "
                                   "publish anomaly and forecast events. Every config key is also --set KEY=VALUE.")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (see deploy/edge-lstm.toml)")
    p.add_argument("--bundle", help="model.bundle")
    p.add_argument("--backend", help="model.backend")
    p.add_argument("--broker", help="mqtt.broker: mqtt[s]://[user:pass@]host:port")
    p.add_argument("--subscribe", action="append", help="input.subscribe (repeatable)")
    p.add_argument("--node-id", dest="node_id", help="mqtt.node_id")
    p.add_argument("--checkpoint", help="state.checkpoint file")
    p.add_argument("--metrics-port", dest="metrics_port", type=int, help="stats.metrics_port (Prometheus)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="any other config key")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    p.add_argument("--check", action="store_true", help="validate the configuration, load the bundle and the "
                   "checkpoint, say what the daemon would do, and exit without connecting (0: all is well)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("sim", help="simulated sensor nodes: list, export or publish scenarios",
                       description="Simulated rotating machines with wear, faults and firmware quirks.")
    sim = p.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)
    sim.add_parser("list", help="list the built-in scenarios")
    q = sim.add_parser("export", help="write a scenario to CSV files and a labels JSON (no broker)")
    q.add_argument("scenario", help="a built-in scenario name or a TOML file")
    q.add_argument("--out", required=True, metavar="DIR", help="output directory")
    q.add_argument("--duration", help="override the scenario's duration (e.g. 2h)")
    q = sim.add_parser("run", help="publish a scenario over MQTT")
    q.add_argument("scenario", help="a built-in scenario name or a TOML file")
    q.add_argument("--broker", default="mqtt://localhost:1883", help="mqtt[s]://[user:pass@]host:port")
    q.add_argument("--speed", default="1", help="simulated seconds per wall second, or 'max' (default 1)")
    q.add_argument("--duration", help="override the scenario's duration (e.g. 10m)")
    q.add_argument("--ca-file", help="CA certificate for mqtts://")
    p.set_defaults(func=_cmd_sim)
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
