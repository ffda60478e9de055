"""``edge-lstm train``: fit a streaming forecaster of the seed's shape on a series, ready to convert.

The model sees raw values and forecasts raw values: a Normalization layer (adapted on the
training part) leads, and a Rescaling layer trails, so the bundle carries both and the daemon
needs no separate scaling. The split is in time order (the last ``validation`` fraction of every
series validates), training stops early on the validation loss, and gradients are clipped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from converter.calibration import CalibrationDataError, read_csv_series
from converter.quiet import tensorflow_quiet
from edge_lstm.evaluate.protocol import find as find_probation
from edge_lstm.stream.scaling import changes, difference_scaling, standard_scaling


@dataclass
class TrainReport:
    model: str
    series: int
    train_windows: int
    validation_windows: int
    epochs_run: int
    val_rmse: float
    val_mae: float
    naive_rmse: float
    naive_mae: float
    features: list[str]
    window: int
    standardise: int | None  # N: each series scaled by its first N samples (0: all); None: raw units
    horizon: int
    difference: bool = False  # the model sees changes and forecasts the change ahead (over their head's spread)
    data: str = ""  # what it learned from
    head: str = "all"  # of each series: "probation" (the protocol's rows), a fraction, or "all"
    seed: int = 0

    @property
    def skill(self) -> float:
        """1 - RMSE / naive RMSE: above 0 the model beats repeating the last value."""
        return 1.0 - self.val_rmse / self.naive_rmse if self.naive_rmse else 0.0


def csv_files(data: str | Path) -> list[Path]:
    """A CSV, or every CSV under a folder (a ``firmware_sim`` export, say), in name order."""
    path = Path(data)
    files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
    if not files or not files[0].exists():
        raise CalibrationDataError(f"{path}: no CSV file found")
    return files


def load_series(data: str | Path, columns: list[str] | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Series ``(L, F)`` from a CSV, or every CSV under a folder, in :func:`csv_files` order."""
    files = csv_files(data)
    series, names = [], None
    for f in files:
        values, cols = read_csv_series(f)
        if columns:
            missing = [c for c in columns if c not in cols]
            if missing:
                raise CalibrationDataError(f"{f}: no column(s) {missing} (has {cols})")
            values, cols = values[:, [cols.index(c) for c in columns]], list(columns)
        if names is not None and cols != names:
            raise CalibrationDataError(f"{f}: columns {cols} differ from {names} in the first file")
        names = cols
        series.append(values)
    return series, names or []


def standardised(series: np.ndarray, first: int, whole: np.ndarray | None = None,
                 difference: bool = False) -> np.ndarray:
    """``whole`` (default ``series``) minus the mean of the ``first`` samples of ``series`` over their
    standard deviation, per column (a constant column: minus its mean), as the engine's
    ``standardise`` does; with ``difference``, its sample-to-sample changes over the spread of those in the
    ``first`` samples (the engine's ``difference``)."""
    mean, scale = (difference_scaling if difference else standard_scaling)(series[:first])
    series = series if whole is None else whole
    if difference:
        series = changes(series)
    return ((series - mean) / scale).astype(np.float32)


#: Extra copies of each series, scaled by the statistics of a random N-sample stretch (train --standardise N).
AUGMENT_DRAWS = 3


def windows(series: np.ndarray, window: int, horizon: int, cumulative: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (N, window, F) and targets (N, horizon): the next values of the first feature (``cumulative``: their
    running sums, for a series of changes: the change from the window's last sample to each step ahead)."""
    n = len(series) - window - horizon + 1
    if n <= 0:
        return np.zeros((0, window, series.shape[1]), np.float32), np.zeros((0, horizon), np.float32)
    idx = np.arange(n)[:, None]
    x = series[idx + np.arange(window)]
    y = series[idx + window + np.arange(horizon), 0]
    if cumulative:
        y = np.cumsum(y, axis=1)
    return x.astype(np.float32), y.astype(np.float32)


def heads(data: str | Path, series: list[np.ndarray], head: float | str | None) -> list[np.ndarray]:
    """The part of each series that may be learned from: with ``head="probation"`` its training rows under the
    evaluation protocol (:mod:`edge_lstm.evaluate.protocol`: ``probation.json`` beside the data, else NAB's first
    15%, at most 750 rows); with a fraction, that share of it; with None, all of it."""
    if head is None:
        return series
    if head == "probation":
        table, root = find_probation(Path(data))
        names = [f.resolve().relative_to(root.resolve()).as_posix() for f in csv_files(data)]
        return [s[: max(1, table.rows(name, len(s)))] for name, s in zip(names, series, strict=True)]
    if isinstance(head, str) or not 0 < head <= 1:
        raise CalibrationDataError(f"head must be 'probation' or a fraction in (0, 1], not {head!r}")
    return [s[: max(1, int(len(s) * head))] for s in series]


def train(data: str | Path, out: str | Path, *, window: int = 50, units: tuple[int, ...] = (64, 32), dense: int = 16,
          cell: str = "lstm", horizon: int = 1, epochs: int = 50, batch: int = 64, patience: int = 5,
          validation: float = 0.2, columns: list[str] | None = None, seed: int = 0, max_windows: int = 20_000,
          head: float | str | None = None, standardise: int | None = None, difference: bool = False,
          progress: bool = True) -> TrainReport:
    """Train, save ``out`` (.keras), ``.report.json`` and ``.calibration.npy`` beside it; return the report.

    ``head`` keeps only the part of each series that may be learned from (:func:`heads`; ``"probation"``:
    never the part a file is scored on). ``standardise`` scales each series by the mean
    and standard deviation of its first ``standardise`` samples (0: of all that is kept), for one
    model shared by series of any units: serve it with ``input.standardise`` set to the same N
    (``edge-lstm evaluate --standardise probation`` for 0 with ``head="probation"``). ``difference`` (with
    ``standardise``) trains on each series' sample-to-sample changes, scaled by the spread of those in the
    same N samples, to forecast the change ahead: for signals whose noise is small against the range their
    operating points span, the noise then stays near unit size for the network.
    """
    if difference and standardise is None:
        raise CalibrationDataError("difference needs standardise: the changes are scaled by each series' first "
                                   "N samples")
    if max_windows < 1:
        raise CalibrationDataError(f"max_windows must be positive, not {max_windows}")
    series, names = load_series(data, columns)
    series = heads(data, series, head)
    if standardise is not None:
        scaled = [standardised(s, standardise or len(s), difference=difference) for s in series]
        if standardise:
            # At serve time the levels wander away from a stream's first N samples: also learn from each
            # series scaled by the statistics of N samples elsewhere in it (the first N are only one draw).
            draws = np.random.default_rng(seed + 1)
            for s in series:
                for _ in range(AUGMENT_DRAWS if len(s) > 2 * standardise else 0):
                    start = int(draws.integers(0, len(s) - standardise))
                    scaled.append(standardised(s[start:], standardise, s, difference))
        series = scaled
    parts = {"train": ([], []), "val": ([], [])}
    for s in series:
        cut = int(len(s) * (1 - validation))
        for name, piece in (("train", s[:cut]), ("val", s[cut - window :])):
            x, y = windows(piece, window, horizon, cumulative=difference)
            parts[name][0].append(x)
            parts[name][1].append(y)
    x_train, y_train = (np.concatenate(a) for a in parts["train"])
    x_val, y_val = (np.concatenate(a) for a in parts["val"])
    if len(x_train) < batch or not len(x_val):
        raise CalibrationDataError(f"{data}: too little data for window {window} (train {len(x_train)}, "
                                   f"validation {len(x_val)} windows)")
    rng = np.random.default_rng(seed)
    if len(x_train) > max_windows:
        keep = np.sort(rng.choice(len(x_train), max_windows, replace=False))
        x_train, y_train = x_train[keep], y_train[keep]
    train_values = np.concatenate([s[: int(len(s) * (1 - validation))] for s in series])
    mean, std = float(train_values[:, 0].mean()), float(train_values[:, 0].std() or 1.0)

    with tensorflow_quiet():
        import keras

    keras.utils.set_random_seed(seed)
    norm = keras.layers.Normalization()
    norm.adapt(train_values)
    recurrent = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    core = [norm]
    for i, u in enumerate(units):
        core.append(recurrent(u, return_sequences=i < len(units) - 1))
    core += [keras.layers.Dense(dense, activation="relu"), keras.layers.Dense(horizon)]
    fit_model = keras.Sequential([keras.Input((window, x_train.shape[2])), *core])
    fit_model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), loss="mse")
    bar = tqdm(total=epochs, desc="training", unit="epoch", disable=not progress)

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{(logs or {}).get('loss', 0):.4f}", val=f"{(logs or {}).get('val_loss', 0):.4f}")

    stop = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    # Early stopping watches at most max_windows evenly spaced validation windows (the report below uses
    # them all): on long series the full validation set would cost each epoch many times its training.
    watch = np.unique(np.linspace(0, len(x_val) - 1, min(len(x_val), max_windows)).round().astype(int))
    history = fit_model.fit(x_train, (y_train - mean) / std,
                            validation_data=(x_val[watch], (y_val[watch] - mean) / std),
                            epochs=epochs, batch_size=batch, verbose=0, callbacks=[stop, Progress()])
    bar.close()
    # The saved model forecasts in raw units: the same layers, then the inverse of the target scaling.
    model = keras.Sequential([keras.Input((window, x_train.shape[2])), *core, keras.layers.Rescaling(std, mean)])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    predicted = np.asarray(model.predict(x_val, verbose=0, batch_size=1024))
    # The last value: no change, for a model of changes.
    naive = np.zeros_like(y_val) if difference else np.repeat(x_val[:, -1:, 0], horizon, axis=1)
    report = TrainReport(
        model=str(out), series=len(series), train_windows=len(x_train), validation_windows=len(x_val),
        epochs_run=len(history.history["loss"]),
        val_rmse=float(np.sqrt(np.mean((predicted - y_val) ** 2))), val_mae=float(np.mean(np.abs(predicted - y_val))),
        naive_rmse=float(np.sqrt(np.mean((naive - y_val) ** 2))), naive_mae=float(np.mean(np.abs(naive - y_val))),
        features=names, window=window, horizon=horizon, standardise=standardise, difference=difference,
        data=str(data), head="all" if head is None else str(head), seed=seed,
    )
    # Input windows for `edge-lstm convert` (its default --calibration): in the space the model sees.
    sample = np.sort(rng.choice(len(x_train), min(512, len(x_train)), replace=False))
    np.save(out.with_suffix(".calibration.npy"), x_train[sample])
    out.with_suffix(".report.json").write_text(json.dumps({**asdict(report), "skill": report.skill}, indent=2))
    return report
