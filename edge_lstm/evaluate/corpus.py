"""``edge-lstm evaluate``: replay labelled series through the streaming path and score the detections.

For every CSV: a replay (:mod:`edge_lstm.evaluate.replay`, no look-ahead), NAB's results file
``<out>/<detector>/<category>/<detector>_<file>.csv`` (``timestamp,value,anomaly_score,label``),
incident metrics against the labelled windows, forecast error against the last-value forecast and
the forecast interval's coverage, and a PNG. Over the corpus: NAB scores for the three profiles
(:mod:`edge_lstm.evaluate.nab`), and ``summary.md`` / ``summary.json``.

The learning protocol (stated in the summary): the model was trained elsewhere (``edge-lstm train``,
for NAB data on the first 15% of each file only); ``standardise="probation"`` scales each file by the
mean and spread of its probationary period, which the scorer ignores; ``"bundle"`` (the default) by
its first N samples when the bundle says so (``edge-lstm train --standardise N``), as the daemon does.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from edge_lstm.errors import EdgeLSTMError
from edge_lstm.evaluate import nab
from edge_lstm.evaluate.incidents import Match, match
from edge_lstm.evaluate.labelled import LabelledSeries, discover, nab_time, read_series
from edge_lstm.evaluate.replay import Trace, replay_streams
from edge_lstm.runtime.model import Model
from edge_lstm.stream.engine import EngineConfig

STANDARDISE = ("bundle", "probation", "none")
_REPLAY = ("each file is replayed from zero state one sample at a time with no look-ahead; the first 15% "
           "(at most 750 points) is not scored")
PROTOCOL = {
    "probation": "the model learned only from the first 15% of each file (edge-lstm train --head 0.15 "
                 "--standardise), each file scaled by its own first 15%; " + _REPLAY,
    "bundle": "the model learned from other data (edge-lstm train on its own series); each stream scaled as "
              "the bundle says; " + _REPLAY,
    "none": "the model learned from other data; raw units; " + _REPLAY,
}
#: Added to the protocol when the bundle's model forecasts changes (edge-lstm train --difference).
DIFFERENCED = ("; the model sees each sample's change from the one before over the spread of the changes where "
               "the stream is scaled, and forecasts the change (edge-lstm train --difference)")


@dataclass
class FileResult:
    name: str
    samples: int
    windows: int
    incidents: int
    true_incidents: int
    false_incidents: int
    detected_windows: int
    mean_delay_s: float | None
    rmse: float  # one-step forecast, after the probationary period
    mae: float
    naive_rmse: float  # the last value as the forecast
    naive_mae: float
    coverage: float  # share of samples inside the forecast interval
    fallback: float  # share of those forecasts that were the last value (the engine's fallback)
    seconds: float  # replay time


def anomaly_scores(trace: Trace) -> np.ndarray:
    """The per-sample score written to NAB's results file: the detector's score (0 before the first
    forecast), kept above the line only where a published incident opened. Inside an incident, and in an
    incident the daemon would not publish (an operating change), it is capped just below the line: what
    the daemon reports is one event per incident, and NAB counts every sample above its threshold (a
    burst of anomalous samples outside a window was a burst of false positives; on the NAB dev subset
    this is worth about 2 points, docs/evaluation.md).

    >>> from edge_lstm.evaluate.replay import Trace
    >>> nan, t = np.nan, np.arange(5.0)
    >>> trace = Trace(t, t, t, t, t, t < 0, t, np.array([nan, 0.2, 0.9, 0.8, 0.3]),
    ...               np.array([False, False, True, True, False]), [(2.0, 4.0)], 0.5)
    >>> anomaly_scores(trace).round(4).tolist()
    [0.0, 0.2, 0.9, 0.4995, 0.3]
    """
    scores = np.nan_to_num(trace.score, nan=0.0)
    onset = np.isin(trace.ts, [start for start, _ in trace.incidents])
    inside = (scores > trace.threshold_score) & ~onset
    scores[inside] = np.minimum(scores[inside], trace.threshold_score * 0.999)
    return scores


def forecast_metrics(trace: Trace, start: int) -> dict[str, float]:
    """One-step forecast error against the last-value forecast, interval coverage and the share of forecasts the
    last value stood in for (the fallback), from sample ``start``."""
    metrics = forecast_quality(trace.value, trace.expected, trace.lower, trace.upper, start)
    ok = np.isfinite(trace.expected[start:]) & (np.arange(start, len(trace)) > 0)
    metrics["fallback"] = float(trace.naive[start:][ok].mean()) if ok.any() else float("nan")
    return metrics


def forecast_quality(value: np.ndarray, expected: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     start: int = 1) -> dict[str, float]:
    """RMSE and MAE of the one-step forecasts ``expected`` of ``value`` (NaN: none) and of the last value, and the
    share of values inside [``lower``, ``upper``], over samples ``start`` on (each judged against the one before).

    >>> q = forecast_quality(np.array([1.0, 2.0, 3.0, 4.0]), np.array([np.nan, 2.5, 3.5, 4.5]),
    ...                      np.array([0.0, 2.0, 2.0, 4.0]), np.array([0.0, 3.0, 4.0, 5.0]))
    >>> q["rmse"], q["naive_rmse"], q["coverage"]
    (0.5, 1.0, 1.0)
    """
    prior = np.concatenate([[np.nan], value[:-1]])  # the last-value forecast: each sample's predecessor
    value, expected, prior = value[start:], expected[start:], prior[start:]
    ok = np.isfinite(expected) & np.isfinite(prior)
    if not ok.any():
        return {"rmse": float("nan"), "mae": float("nan"), "naive_rmse": float("nan"), "naive_mae": float("nan"),
                "coverage": float("nan")}
    err, naive_err = (value - expected)[ok], (value - prior)[ok]
    inside = (value >= lower[start:]) & (value <= upper[start:])
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))),
            "naive_rmse": float(np.sqrt(np.mean(naive_err**2))), "naive_mae": float(np.mean(np.abs(naive_err))),
            "coverage": float(inside[ok].mean())}


def write_results(path: Path, series: LabelledSeries, trace: Trace, scores: np.ndarray) -> None:
    """NAB's results layout: ``timestamp,value,anomaly_score,label`` (label 1 inside a window)."""
    label = np.zeros(len(series.ts), np.int8)
    for a, b in series.windows:
        label[(series.ts >= a) & (series.ts <= b)] = 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("timestamp,value,anomaly_score,label\n")
        f.writelines(f"{nab_time(t)},{v:.10g},{s:.6f},{lab}\n"
                     for t, v, s, lab in zip(series.ts, trace.value, scores, label, strict=True))


def evaluate(model: Model, data: Path, windows_file: Path | None, out: Path, *, config: EngineConfig | None = None,
             standardise: str = "bundle", detector_name: str = "edgelstm", plots: bool = True,
             progress: bool = True) -> dict[str, Any]:
    """Evaluate ``model`` on every CSV under ``data``; write results under ``out``; return the summary."""
    if standardise not in STANDARDISE:
        raise EdgeLSTMError(f"standardise must be one of {STANDARDISE}, not {standardise!r}")
    config = config or EngineConfig(gap_s=float("inf"))
    if model.bundle.difference and standardise == "none":
        raise EdgeLSTMError("the bundle's model sees changes over the spread of a stream's first samples (edge-lstm "
                            "train --difference): --standardise bundle or probation, not none")
    files = discover(data, windows_file)
    out.mkdir(parents=True, exist_ok=True)
    results: list[FileResult] = []
    scored: dict[str, tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]] = {}
    total = Match()
    bar = tqdm(total=len(files), desc="evaluating", unit="file", disable=not progress)
    for group in _groups(files, by_device=bool(config.detector.context)):
        loaded = [(path, name, read_series(path, name, windows)) for path, name, windows in group]
        for path, _, series in loaded:
            if series.values.shape[1] != model.features:
                raise EdgeLSTMError(f"{path}: {series.values.shape[1]} value column(s), "
                                    f"the model takes {model.features}")
        length = len(loaded[0][2].ts)
        group_config = replace(config, standardise=model.bundle.standardise if standardise == "bundle" else 0,
                               difference=model.bundle.difference)
        if standardise == "probation":  # the engine holds the probationary samples back to learn the scaling
            group_config = replace(group_config, standardise=max(2, nab.probation_length(length)))
        started = time.perf_counter()
        streams = {_stream(path, len(group)): (series.ts, series.values) for path, _, series in loaded}
        traces = replay_streams(model, streams, group_config)
        seconds = (time.perf_counter() - started) / len(group)
        for path, name, series in loaded:
            trace = traces[_stream(path, len(group))]
            total = _file(model, out, detector_name, name, series, trace, seconds, plots, results, scored, total)
            bar.update(1)
    bar.close()
    summary = summarise(model, results, scored, total, config, standardise, data, windows_file)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(markdown(summary), encoding="utf-8")
    return summary


def _groups(files: list, by_device: bool) -> list[list]:
    """Files replayed together: each device's channels (one folder per device, as ``edge-lstm sim export``
    writes) when the detector looks at a device's context channel; otherwise one file at a time."""
    if not by_device:
        return [[f] for f in files]
    devices: dict[Path, list] = {}
    for f in files:
        devices.setdefault(f[0].parent, []).append(f)
    return list(devices.values())


def _stream(path: Path, group_size: int) -> str:
    return f"{path.parent.name}/{path.stem}" if group_size > 1 else "series"


def _file(model: Model, out: Path, detector_name: str, name: str, series: LabelledSeries, trace: Trace, seconds: float,
          plots: bool, results: list[FileResult], scored: dict, total: Match) -> Match:
    """Write one file's results and plot; append its metrics; return the running incident total."""
    scores = anomaly_scores(trace)
    stem = Path(name).name
    write_results(out / detector_name / series.category / f"{detector_name}_{stem}", series, trace, scores)
    scored[name] = (series.ts, scores, series.windows)
    start = nab.probation_length(len(series.ts))
    found = match([i for i in trace.incidents if i[1] >= series.ts[start]], series.windows)
    total = total + found
    results.append(FileResult(
        name=name, samples=len(series.ts), windows=len(series.windows), incidents=found.true_incidents
        + found.false_incidents, true_incidents=found.true_incidents, false_incidents=found.false_incidents,
        detected_windows=found.detected, mean_delay_s=found.mean_delay, seconds=seconds,
        **forecast_metrics(trace, start)))
    if plots:
        from edge_lstm.evaluate.plots import plot_stream

        plot_stream(out / "plots" / series.category / f"{Path(stem).stem}.png", f"{name} ({model.backend})",
                    series.ts, trace.value, expected=trace.expected, lower=trace.lower, upper=trace.upper,
                    score=scores, threshold=trace.threshold_score, incidents=trace.incidents,
                    windows=series.windows)
    return total


def summarise(model: Model, results: list[FileResult], scored: dict, total: Match, config: EngineConfig,
              standardise: str, data: Path, windows_file: Path | None) -> dict[str, Any]:
    """Corpus-level numbers: NAB scores per profile, incident metrics, forecast quality, timing."""
    profiles = {profile: nab.corpus_score(scored, profile) for profile in nab.PROFILES}
    days = sum((s[0][-1] - s[0][nab.probation_length(len(s[0]))]) / 86400 for s in scored.values())
    finite = [r for r in results if np.isfinite(r.rmse) and r.naive_rmse > 0 and r.naive_mae > 0]
    forecast = {
        "rmse_vs_naive_median": float(np.median([r.rmse / r.naive_rmse for r in finite])),
        "mae_vs_naive_median": float(np.median([r.mae / r.naive_mae for r in finite])),
        "coverage_mean": float(np.mean([r.coverage for r in finite])),
        "fallback_mean": float(np.mean([r.fallback for r in finite])),
        "files": len(finite),
    } if finite else {}
    return {
        "data": str(data), "windows": str(windows_file) if windows_file else None,
        "bundle": str(model.bundle.path),
        "backend": model.backend, "standardise": standardise,
        "protocol": PROTOCOL[standardise] + (DIFFERENCED if model.bundle.difference else ""),
        "detector": asdict(config.detector),
        "nab": {p: {k: v for k, v in s.items()} for p, s in profiles.items()},
        "incidents": {"true": total.true_incidents, "false": total.false_incidents, "windows": total.windows,
                      "detected": total.detected, "precision": total.precision, "recall": total.recall,
                      "f1": total.f1, "mean_delay_s": total.mean_delay,
                      "false_per_stream_day": total.false_incidents / days if days else None,
                      "stream_days": days},  # scored (after each file's probation)
        "forecast": forecast,
        "interval_coverage": math.erf(config.interval_z / math.sqrt(2.0)),
        "samples": int(sum(r.samples for r in results)),
        "replay_seconds": float(sum(r.seconds for r in results)),
        "files": [asdict(r) for r in results],
    }


def markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown report."""
    nab_rows = "\n".join(f"| {p} | {s['score']:.1f} | {s['threshold']:.4f} |" for p, s in summary["nab"].items())
    inc, fc = summary["incidents"], summary["forecast"]
    delay = f"{inc['mean_delay_s'] / 60:.1f} min" if inc["mean_delay_s"] is not None else "n/a"
    lines = [
        f"# Evaluation: {summary['data']}", "",
        f"Bundle `{summary['bundle']}`, backend `{summary['backend']}`, standardise `{summary['standardise']}`; "
        f"{summary['samples']:,} samples replayed in {summary['replay_seconds']:.1f} s.", "",
        f"Protocol: {summary['protocol']}.", "",
        "| NAB profile | score | threshold |", "|---|---:|---:|", nab_rows, "",
        f"Incidents: {inc['true']} true, {inc['false']} false over {inc['windows']} labelled windows "
        f"({inc['detected']} detected): precision {inc['precision']:.2f}, recall {inc['recall']:.2f}, "
        f"F1 {inc['f1']:.2f}, mean detection delay {delay}.", "",
    ]
    if fc:
        lines += [f"One-step forecast after probation, median over {fc['files']} files: RMSE / last-value RMSE "
                  f"{fc['rmse_vs_naive_median']:.2f}, MAE / last-value MAE {fc['mae_vs_naive_median']:.2f}; "
                  f"nominal {summary['interval_coverage']:.0%} interval (calibrated online): measured coverage "
                  f"{fc['coverage_mean']:.1%} (mean over files); the last value forecast instead of the model "
                  f"(the fallback) {fc['fallback_mean']:.1%} of the time (mean over files).", ""]
    lines += ["| file | samples | windows | detected | false incidents | delay (min) | RMSE/naive | coverage | "
              "fallback |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary["files"]:
        delay = f"{r['mean_delay_s'] / 60:.0f}" if r["mean_delay_s"] is not None else ""
        ratio = r["rmse"] / r["naive_rmse"] if r["naive_rmse"] else float("nan")
        lines.append(f"| {r['name']} | {r['samples']} | {r['windows']} | {r['detected_windows']} | "
                     f"{r['false_incidents']} | {delay} | {ratio:.2f} | {r['coverage']:.1%} | {r['fallback']:.0%} |")
    return "\n".join(lines) + "\n"
