"""``edge-lstm evaluate``: replay labelled series through the streaming path and score the detections.

For every CSV: a replay (:mod:`edge_lstm.evaluate.replay`, no look-ahead), NAB's results file
``<out>/<detector>/<category>/<detector>_<file>.csv`` (``timestamp,value,anomaly_score,label``),
event metrics against the labelled windows, each incident in ``incidents.csv``, forecast error against
the last-value forecast and the forecast interval's coverage, and a PNG. Over the corpus: NAB scores for
the three profiles (:mod:`edge_lstm.evaluate.nab`), and ``summary.md`` / ``summary.json``.

The learning protocol (:mod:`edge_lstm.evaluate.protocol`, stated in the summary from what the bundle
records of its training): each file's probation rows (``probation.json``, else NAB's first 15%, at most
750 rows) are learned from and not scored; ``standardise="probation"`` scales each file by them;
``"bundle"`` (the default) by its first N samples when the bundle says so (``edge-lstm train
--standardise N``), as the daemon does.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from edge_lstm.errors import EdgeLSTMError
from edge_lstm.evaluate import nab
from edge_lstm.evaluate.incidents import Match, match, overlaps
from edge_lstm.evaluate.labelled import LabelledSeries, discover, nab_time, read_series
from edge_lstm.evaluate.protocol import Probation
from edge_lstm.evaluate.protocol import find as find_probation
from edge_lstm.evaluate.replay import Trace, replay_streams
from edge_lstm.evaluate.report import markdown
from edge_lstm.runtime.model import Model
from edge_lstm.stream.engine import EngineConfig

STANDARDISE = ("bundle", "probation", "none")
SCALING = {
    "probation": "each file scaled by the mean and spread of its own probation rows",
    "bundle": "each stream scaled as the bundle says (by its first N samples, as the daemon does)",
    "none": "raw units",
}
#: Added when the bundle's model forecasts changes (edge-lstm train --difference).
DIFFERENCED = ("the model sees each sample's change from the one before over the spread of the changes where the "
               "stream is scaled, and forecasts the change (edge-lstm train --difference)")
REPLAY = ("each file is replayed from zero state one sample at a time with no look-ahead, and scored after its "
          "probation rows; a row no newer than one before it is dropped, as the daemon drops it")
#: How the end of the probation rows is replayed (``across_probation``: judged, or a join).
ACROSS = {False: "the scored rows may be another recording than the probation rows (a benchmark's test part after "
                 "its training part): the forecasts made before the first scored row and from it, and the pattern "
                 "windows holding a probation row or the first scored row, are learned, not judged",
          True: "what spans the end of the probation rows is judged like any other sample"}


def protocol(model: Model, data: Path, standardise: str, probation: Probation, restart_after_s: float = 0.0,
             across_probation: bool = False) -> str:
    """The learning protocol of an evaluation, in words, from what the bundle records of its training (and
    ``restart_after_s``: the engine's restart after a silence, 0 for never; ``across_probation``: whether what spans
    the end of the probation rows is judged)."""
    training = model.bundle.training
    if not training:
        learned = "the bundle does not record what its model learned from"
    else:
        same = Path(training.get("data", "")).resolve() == data.resolve()
        part = {"probation": "only the probation rows of each file", "all": "all of each file"}.get(
            str(training.get("head")), f"the first {training.get('head')} of each file")
        where = training.get("data") if same else f"other data ({training.get('data')})"
        loss = f", {training['loss']} loss" if training.get("loss") else ""
        learned = f"the model learned from {where}, {part} (seed {training.get('seed', '?')}{loss})"
        if same and training.get("head") != "probation":
            learned += ": beyond the probation rows, so these scores are not a fair test"
    parts = [f"probation: {probation.describe()}", learned, SCALING[standardise]]
    if model.bundle.difference:
        parts.append(DIFFERENCED)
    gaps = (f"a silence over {restart_after_s:g} s restarts a stream from zero state (input.restart_after_s)"
            if restart_after_s > 0 else "a gap restarts nothing, as in the daemon by default")
    return "; ".join([*parts, REPLAY, ACROSS[across_probation], gaps])


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
    probation: int = 0  # leading rows learned from, not scored
    out_of_order: int = 0  # rows older than one before them (dropped, as the daemon drops them)
    repeated: int = 0  # rows stamped the same as the newest before them (dropped)
    missing: int = 0  # samples missing from gaps in the clock (estimated)
    rejected: int = 0  # rows refused for a time or value the daemon would refuse (not replayed, not written)
    first_rejection: str = ""  # the first of them and why
    precision: float = 1.0  # windows detected over those and the false incidents, after probation
    recall: float = 1.0
    f1: float = 1.0
    steps_rmse_vs_naive: list[float] = field(default_factory=list)  # the published forecasts, k steps ahead


def anomaly_scores(trace: Trace) -> np.ndarray:
    """The per-sample score written to NAB's results file: the detector's score (0 before the first
    forecast), kept above the line only where a published incident opened. Inside an incident, and in an
    incident the daemon would not publish (an operating change), it is capped just below the line: what
    the daemon reports is one event per incident, and NAB counts every sample above its threshold (a
    burst of anomalous samples outside a window was a burst of false positives; on the NAB dev subset
    this was worth about 2 points: docs/evaluation.md as of 2fbba95).

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


def forecast_metrics(trace: Trace, start: int) -> dict[str, Any]:
    """One-step forecast error against the last-value forecast, interval coverage and the share of forecasts the
    last value stood in for (the fallback), from sample ``start``; and the published forecasts' error per step
    ahead against the last value's (:func:`steps_quality`)."""
    metrics = forecast_quality(trace.value, trace.expected, trace.lower, trace.upper, start)
    ok = np.isfinite(trace.expected[start:]) & (np.arange(start, len(trace)) > 0)
    metrics["fallback"] = float(trace.naive[start:][ok].mean()) if ok.any() else float("nan")
    metrics["steps_rmse_vs_naive"] = steps_quality(trace.value, trace.ahead, start) if trace.ahead is not None else []
    return metrics


def steps_quality(value: np.ndarray, ahead: np.ndarray, start: int = 0) -> list[float]:
    """Per step k ahead, the RMSE of the forecasts ``ahead`` (L, horizon; NaN where none was made) made at samples
    ``start`` on, over the RMSE of the last value k steps ahead (NaN where neither can be judged).

    >>> steps_quality(np.arange(6.0), np.array([[1.0, 3.0]] + [[np.nan, np.nan]] * 5))
    [0.0, 0.5]
    """
    out = []
    for k in range(1, ahead.shape[1] + 1):
        made = np.arange(start, len(value) - k)
        made = made[np.isfinite(ahead[made, k - 1])]
        if not made.size:
            out.append(float("nan"))
            continue
        naive = np.sqrt(np.mean((value[made + k] - value[made]) ** 2))
        model = np.sqrt(np.mean((value[made + k] - ahead[made, k - 1]) ** 2))
        out.append(float(model / naive) if naive > 0 else float("nan"))
    return out


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
             progress: bool = True, across_probation: bool = False) -> dict[str, Any]:
    """Evaluate ``model`` on every CSV under ``data``; write results under ``out``; return the summary.
    ``across_probation``: judge what spans the end of each file's probation rows (by default a join: learned, not
    judged, as a benchmark's test part may be another recording than its training part)."""
    if standardise not in STANDARDISE:
        raise EdgeLSTMError(f"standardise must be one of {STANDARDISE}, not {standardise!r}")
    config = config or EngineConfig()
    if model.bundle.difference and standardise == "none":
        raise EdgeLSTMError("the bundle's model sees changes over the spread of a stream's first samples (edge-lstm "
                            "train --difference): --standardise bundle or probation, not none")
    files = discover(data, windows_file)
    probation, root = find_probation(data)
    out.mkdir(parents=True, exist_ok=True)
    results: list[FileResult] = []
    scored: dict[str, tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]] = {}
    total = Match()
    bar = tqdm(total=len(files), desc="evaluating", unit="file", disable=not progress)
    for group in _groups(files, by_device=bool(config.operating.context)):
        loaded = [(path, name, read_series(path, name, windows)) for path, name, windows in group]
        for path, _, series in loaded:
            if series.values.shape[1] != model.features:
                raise EdgeLSTMError(f"{path}: {series.values.shape[1]} value column(s), "
                                    f"the model takes {model.features}")
        learn = {name: series.held(probation.rows(_relative(path, root), series.file_rows))
                 for path, name, series in loaded}
        group_config = replace(config, standardise=model.bundle.standardise if standardise == "bundle" else 0,
                               difference=model.bundle.difference)
        replayed = {name: int(series.kept[: learn[name]].sum()) for _, name, series in loaded}  # probation rows kept
        if standardise == "probation":  # the engine holds the probation samples back to learn the scaling
            group_config = replace(group_config, standardise=max(2, min(replayed.values())))
        started = time.perf_counter()
        keys = {name: _stream(path, len(group)) for path, name, _ in loaded}
        streams = {keys[name]: (series.ts[series.kept], series.values[series.kept]) for _, name, series in loaded}
        joins = None if across_probation else {  # the first row replayed after the probation rows
            keys[name]: float(streams[keys[name]][0][replayed[name]])
            for _, name, _ in loaded if replayed[name] < len(streams[keys[name]][0])}
        traces = replay_streams(model, streams, group_config, joins)
        seconds = (time.perf_counter() - started) / len(group)
        for _, name, series in loaded:
            trace = expanded(traces[keys[name]], series.kept, series.ts,
                             series.values[:, group_config.target_feature])
            total = _file(model, out, detector_name, name, series, trace, learn[name], seconds, plots, results,
                          scored, total)
            bar.update(1)
    bar.close()
    summary = summarise(model, results, scored, total, config, data, windows_file)
    summary["standardise"] = standardise
    summary["judged_across_probation"] = across_probation  # False: the end of the probation rows replayed as a join
    summary["protocol"] = protocol(model, data, standardise, probation, config.restart_after_s, across_probation)
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


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def expanded(trace: Trace, kept: np.ndarray, ts: np.ndarray, value: np.ndarray) -> Trace:
    """A trace of the kept rows, laid back over every row of the file (a dropped row: no forecast, score 0)."""
    if kept.all():
        return trace

    def spread(column: np.ndarray, empty: Any) -> np.ndarray:
        out = np.full((kept.size, *column.shape[1:]), empty, column.dtype)
        out[kept] = column
        return out

    return replace(trace, ts=ts, value=value, expected=spread(trace.expected, np.nan),
                   lower=spread(trace.lower, np.nan), upper=spread(trace.upper, np.nan),
                   naive=spread(trace.naive, False), z=spread(trace.z, np.nan), score=spread(trace.score, 0.0),
                   anomalous=spread(trace.anomalous, False),
                   ahead=None if trace.ahead is None else spread(trace.ahead, np.nan))


def _stream(path: Path, group_size: int) -> str:
    return f"{path.parent.name}/{path.stem}" if group_size > 1 else "series"


def _file(model: Model, out: Path, detector_name: str, name: str, series: LabelledSeries, trace: Trace, start: int,
          seconds: float, plots: bool, results: list[FileResult], scored: dict, total: Match) -> Match:
    """Write one file's results and plot; append its metrics; return the running incident total. Rows before
    ``start`` (the probation) are not scored: neither the incidents that end in them nor the windows."""
    scores = anomaly_scores(trace)
    stem = Path(name).name
    write_results(out / detector_name / series.category / f"{detector_name}_{stem}", series, trace, scores)
    scored[name] = (series.ts, scores, series.windows)
    begin = series.ts[min(start, len(series.ts) - 1)]
    incidents = [i for i in trace.incidents if i[1] >= begin]
    found = match(incidents, [w for w in series.windows if w[1] >= begin])
    write_incidents(out / "incidents.csv", name, incidents, series.windows, trace.incident_views, first=not results)
    total = total + found
    results.append(FileResult(
        name=name, samples=len(series.ts), windows=found.windows, incidents=found.true_incidents
        + found.false_incidents, true_incidents=found.true_incidents, false_incidents=found.false_incidents,
        detected_windows=found.detected, mean_delay_s=found.mean_delay, seconds=seconds, probation=start,
        precision=found.precision, recall=found.recall, f1=found.f1, **series.clock,
        first_rejection=series.rejected[0] if series.rejected else "",
        **forecast_metrics(trace, start)))
    if plots:
        from edge_lstm.evaluate.plots import plot_stream

        plot_stream(out / "plots" / series.category / f"{Path(stem).stem}.png", f"{name} ({model.backend})",
                    series.ts, trace.value, expected=trace.expected, lower=trace.lower, upper=trace.upper,
                    score=scores, threshold=trace.threshold_score, incidents=trace.incidents,
                    windows=series.windows)
    return total


def write_incidents(path: Path, name: str, incidents: list[tuple[float, float]], windows: list[tuple[float, float]],
                    views: dict[float, dict], first: bool) -> None:
    """Append a file's incidents (after its probation) to ``incidents.csv``: file, start, end, whether it touches a
    labelled window, its peak score, the view that opened it and every view that found it anomalous."""
    with path.open("w" if first else "a", encoding="utf-8", newline="\n") as f:
        if first:
            f.write("file,start,end,true,peak_score,opened_by,views\n")
        for a, b in incidents:
            true = int(any(overlaps((a, b), w) for w in windows))
            info = views.get(a, {})
            f.write(f"{name},{nab_time(a)},{nab_time(b)},{true},{info.get('peak_score', float('nan')):.4f},"
                    f"{info.get('opened_by', '')},{'+'.join(info.get('views', []))}\n")


def summarise(model: Model, results: list[FileResult], scored: dict, total: Match, config: EngineConfig, data: Path,
              windows_file: Path | None) -> dict[str, Any]:
    """Corpus-level numbers: NAB scores per profile, incident metrics, forecast quality, timing."""
    starts = {r.name: r.probation for r in results}
    profiles = {profile: nab.corpus_score(scored, profile, starts=starts) for profile in nab.PROFILES}
    days = sum((s[0][-1] - s[0][min(starts[name], len(s[0]) - 1)]) / 86400 for name, s in scored.items())
    points = sum(r.samples - r.probation for r in results)
    finite = [r for r in results if np.isfinite(r.rmse) and r.naive_rmse > 0 and r.naive_mae > 0]
    forecast = {
        "rmse_vs_naive_median": float(np.median([r.rmse / r.naive_rmse for r in finite])),
        "mae_vs_naive_median": float(np.median([r.mae / r.naive_mae for r in finite])),
        "coverage_mean": float(np.mean([r.coverage for r in finite])),
        "fallback_mean": float(np.mean([r.fallback for r in finite])),
        # the published forecasts' RMSE over the last value's, per step ahead (median over files)
        "steps_rmse_vs_naive_median": [float(np.nanmedian(step)) if np.isfinite(step).any() else None
                                       for step in zip(*[r.steps_rmse_vs_naive for r in finite], strict=True)],
        "files": len(finite),
    } if finite else {}
    return {
        "data": str(data), "windows": str(windows_file) if windows_file else None,
        "bundle": str(model.bundle.path),
        "backend": model.backend,
        "detector": asdict(config.detector),
        "nab": {p: {k: v for k, v in s.items()} for p, s in profiles.items()},
        "incidents": {"true": total.true_incidents, "false": total.false_incidents, "windows": total.windows,
                      "detected": total.detected, "precision": total.precision, "recall": total.recall,
                      "f1": total.f1, "mean_delay_s": total.mean_delay,
                      "false_per_stream_day": total.false_incidents / days if days else None,
                      "false_per_1000_points": 1000 * total.false_incidents / points if points else None,
                      "stream_days": days, "points": points},  # scored (after each file's probation)
        "clock": {key: int(sum(getattr(r, key) for r in results)) for key in ("out_of_order", "repeated", "missing",
                                                                               "rejected")},
        "forecast": forecast,
        "interval_coverage": math.erf(config.interval_z / math.sqrt(2.0)),
        "samples": int(sum(r.samples for r in results)),
        "replay_seconds": float(sum(r.seconds for r in results)),
        "files": [asdict(r) for r in results],
    }
