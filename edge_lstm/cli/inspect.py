"""``edge-lstm inspect``: print a bundle's manifest and verify its files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_lstm.cli.exits import EXIT_FAILED, EXIT_OK
from edge_lstm.runtime.bundle import read_manifest, verify_files


def run(args: argparse.Namespace) -> int:
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
        pre = manifest.get("preprocessing", {})
        if pre.get("standardise"):
            what = "changes, over the spread of those" if pre.get("difference") else "values, by the mean and spread"
            print(f"streams     scaled: the model sees each stream's {what} of its first {pre['standardise']} samples "
                  "(serve applies it: input.standardise)")
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


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="print a bundle's manifest and verify its files",
                       description="Print the manifest of a bundle and check every file's size and sha256.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--json", action="store_true", help="print the raw manifest.json")
    p.set_defaults(func=run)
