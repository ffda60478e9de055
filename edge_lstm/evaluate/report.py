"""An evaluation's summary as Markdown (``summary.md``). Pure."""

from __future__ import annotations

import math
from typing import Any


def markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown report: protocol, NAB scores, event metrics, forecast quality, one row per file."""
    nab_rows = "\n".join(f"| {p} | {s['score']:.1f} | {s['threshold']:.4f} |" for p, s in summary["nab"].items())
    inc, fc, clock = summary["incidents"], summary["forecast"], summary["clock"]
    delay = f"{inc['mean_delay_s'] / 60:.1f} min" if inc["mean_delay_s"] is not None else "n/a"
    lines = [
        f"# Evaluation: {summary['data']}", "",
        f"Bundle `{summary['bundle']}`, backend `{summary['backend']}`, standardise `{summary['standardise']}`; "
        f"{summary['samples']:,} samples replayed in {summary['replay_seconds']:.1f} s.", "",
        f"Protocol: {summary['protocol']}.", "",
        "| NAB profile | score | threshold |", "|---|---:|---:|", nab_rows, "",
        f"Events (a window touched by an incident is a true positive, a window touched by none a false negative, an "
        f"incident touching no window a false positive): {inc['detected']} of {inc['windows']} windows detected, "
        f"{inc['false']} false incidents ({_per_1000(inc)} per 1,000 points scored); precision "
        f"{inc['precision']:.2f}, recall {inc['recall']:.2f}, F1 {inc['f1']:.2f}; mean detection delay {delay}.", "",
        f"Clock: {clock['out_of_order']} rows out of order and {clock['repeated']} repeated (dropped, as the daemon "
        f"drops them), about {clock['missing']} samples missing in gaps.{_rejected(summary)}", "",
    ]
    if fc:
        lines += [f"One-step forecast after probation, median over {fc['files']} files: RMSE / last-value RMSE "
                  f"{fc['rmse_vs_naive_median']:.2f}, MAE / last-value MAE {fc['mae_vs_naive_median']:.2f}; "
                  f"nominal {summary['interval_coverage']:.0%} interval (calibrated online): measured coverage "
                  f"{fc['coverage_mean']:.1%} (mean over files); the last value forecast instead of the model "
                  f"(the fallback) {fc['fallback_mean']:.1%} of the time (mean over files).", ""]
        steps = fc.get("steps_rmse_vs_naive_median") or []
        if len(steps) > 1:
            lines += ["The published forecasts, RMSE / last-value RMSE per step ahead (median over files): "
                      + ", ".join(f"{k}: {'n/a' if v is None else f'{v:.2f}'}" for k, v in enumerate(steps, 1))
                      + ".", ""]
    lines += ["| file | samples | probation | windows | detected | false incidents | F1 | delay (min) | RMSE/naive | "
              "coverage | fallback |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary["files"]:
        delay = f"{r['mean_delay_s'] / 60:.0f}" if r["mean_delay_s"] is not None else ""
        ratio = r["rmse"] / r["naive_rmse"] if r["naive_rmse"] else float("nan")
        lines.append(f"| {r['name']} | {r['samples']} | {r['probation']} | {r['windows']} | {r['detected_windows']} | "
                     f"{r['false_incidents']} | {r['f1']:.2f} | {delay} | {_figure(ratio, '.2f')} | "
                     f"{_figure(r['coverage'], '.1%')} | {_figure(r['fallback'], '.0%')} |")
    return "\n".join(lines) + "\n"


def _figure(value: float, spec: str) -> str:
    """``value`` formatted, or blank where there is none (a file with nothing scored after its probation)."""
    return format(value, spec) if value is not None and math.isfinite(value) else ""


def _per_1000(incidents: dict[str, Any]) -> str:
    rate = incidents.get("false_per_1000_points")
    return "n/a" if rate is None else f"{rate:.2f}"


def _rejected(summary: dict[str, Any]) -> str:
    """The rows refused as the daemon refuses a sample (a time or value it cannot take), with the first reason."""
    count = summary["clock"].get("rejected", 0)
    if not count:
        return ""
    first = next(f for f in summary["files"] if f.get("rejected"))
    return (f" {count} rows refused as the daemon refuses such a sample, not replayed (the first: {first['name']} "
            f"{first['first_rejection']}).")
