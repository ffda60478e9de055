"""Seasonal lag input: does telling the forecaster what the series did one period ago help NAB?

Trains two forecasters of the seed's shape the way ``make evaluate-nab`` does (first 15% of each
file, each scaled by its own first 15%): the plain one (the value alone) and one that also sees the
seasonal hint ``d[t] = x(t + gap - P) - x(t - P)`` (what the series did at this step one period
``P`` ago; 0 until a period of history exists). One-step forecasts from 50-sample windows for
every file; the product's detector scores both; NAB's scorer rates them.

    python research/seasonal_study.py ../shared/data/nab-dev [--period-h 24]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge_lstm.evaluate import nab
from edge_lstm.evaluate.labelled import discover, read_series
from edge_lstm.evaluate.protocol import nab_probation
from edge_lstm.stream.scaling import standard_scaling
from research.nab_study import detector_scores, squash

WINDOW = 50


def seasonal_hint(ts: np.ndarray, x: np.ndarray, period_s: float) -> np.ndarray:
    """d[t]: the value one period before the next sample's time, less the value one period before now."""
    gap = np.median(np.diff(ts))
    now = np.searchsorted(ts, ts - period_s, side="right") - 1
    nxt = np.searchsorted(ts, ts + gap - period_s, side="right") - 1
    d = np.where((now >= 0) & (nxt >= 0), x[np.maximum(nxt, 0)] - x[np.maximum(now, 0)], 0.0)
    return d


def load(data: Path, period_s: float) -> dict:
    files = {}
    for path, name, windows in discover(data, data / "combined_windows.json"):
        s = read_series(path, name, windows)
        head = nab_probation(len(s.ts))
        mean, scale = standard_scaling(s.values[:head])
        x = ((s.values[:, 0] - mean[0]) / scale[0]).astype(np.float64)
        files[name] = (s.ts, s.windows, x, seasonal_hint(s.ts, x, period_s), head)
    return files


def stack(x: np.ndarray, d: np.ndarray, seasonal: bool) -> np.ndarray:
    return np.stack([x, d], axis=1) if seasonal else x[:, None]


def windows_of(series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(series) - WINDOW
    idx = np.arange(n)[:, None] + np.arange(WINDOW)
    return series[idx].astype(np.float32), series[WINDOW:, 0].astype(np.float32)


def fit_and_forecast(files: dict, seasonal: bool, seed: int = 0) -> dict:
    import keras

    keras.utils.set_random_seed(seed)
    xs, ys, vx, vy = [], [], [], []
    for _, _, x, d, head in files.values():
        s = stack(x, d, seasonal)[:head]
        cut = int(head * 0.8)
        a, b = windows_of(s[:cut])
        xs.append(a)
        ys.append(b)
        a, b = windows_of(s[cut - WINDOW:])
        vx.append(a)
        vy.append(b)
    xt, yt, xv, yv = map(np.concatenate, (xs, ys, vx, vy))
    feats = xt.shape[2]
    model = keras.Sequential([keras.Input((WINDOW, feats)), keras.layers.LSTM(64, return_sequences=True),
                              keras.layers.LSTM(32), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), loss="mse")
    stop = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    h = model.fit(xt, yt, validation_data=(xv, yv), epochs=50, batch_size=64, verbose=0, callbacks=[stop])
    print(f"  {'seasonal' if seasonal else 'plain'}: {len(h.history['loss'])} epochs, "
          f"val mse {min(h.history['val_loss']):.4f}", flush=True)
    out = {}
    for name, (ts, windows, x, d, _) in files.items():
        s = stack(x, d, seasonal)
        a, _ = windows_of(s)
        y = model.predict(a, verbose=0, batch_size=2048)[:, 0]
        e = np.concatenate([x[:WINDOW], y])  # the first window: no forecast (the value itself)
        out[name] = (ts, windows, x, e)
    return out


def nab_score(forecast: dict, **settings) -> float:
    scored = {name: (ts, squash(detector_scores(x, e, True, ts, **settings)), windows)
              for name, (ts, windows, x, e) in forecast.items()}
    return nab.corpus_score(scored, "standard")["score"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--period-h", type=float, default=24.0)
    ap.add_argument("--cache", type=Path, default=Path("build/seasonal_study.npz"))
    args = ap.parse_args(argv)
    files = load(args.data, args.period_h * 3600)
    if args.cache.exists():
        cached = np.load(args.cache, allow_pickle=True)
        results = cached["results"].item()
    else:
        results = {label: fit_and_forecast(files, seasonal) for label, seasonal in (("plain", False),
                                                                                   ("seasonal", True))}
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.cache, results=np.array(results, dtype=object))
    for label, forecast in results.items():
        rmse = np.median([np.sqrt(np.mean((x[h:] - e[h:]) ** 2)) / max(np.sqrt(np.mean(np.diff(x[h - 1:]) ** 2)),
                                                                          1e-9)
                          for (ts, w, x, e), (_, _, _, _, h) in zip(forecast.values(), files.values(), strict=True)])
        print(f"{label:9s} RMSE/naive (median) {rmse:.3f}  NAB z_gate 4: {nab_score(forecast, z_gate=4.0):.2f}  "
              f"z_gate 8: {nab_score(forecast):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
