"""``edge-lstm train``: fit a streaming forecaster of the seed's shape on a series, ready to convert.

Trained the way it runs: the daemon carries h and c from sample to sample for as long as a stream lives, so the
model learns from long sequences (``window`` samples, 256 by default) with a forecast at every step, from zero state,
the first ``burn_in`` steps not judged; the report judges it streamed over each whole series, as the daemon would
run it. The model sees raw values and forecasts raw values: a Normalization layer (adapted on the training part)
leads, and a Rescaling layer trails, so the bundle carries both and the daemon needs no separate scaling. The split
is in time order (the last ``validation`` fraction of every series validates), training stops early on the
validation loss, and gradients are clipped. The loss is the Huber loss by default (squared within one standard
deviation of the target, linear beyond): the rows learned from hold spikes and faults of their own, and a forecaster
that chases them forecasts anomalies too; one fitted to the bulk stands back from them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from converter.calibration import CalibrationDataError, finite_rows, read_csv_series
from converter.quiet import tensorflow_quiet
from edge_lstm.evaluate.protocol import find as find_probation
from edge_lstm.stream.scaling import changes, difference_scaling, standard_scaling

#: Training losses, on the target scaled to unit spread: Huber (delta 1) by default; the squared error.
LOSSES = ("huber", "mse")


@dataclass
class TrainReport:
    model: str
    series: int  # series learned from
    copies: int  # extra copies of them, scaled by another stretch's statistics (--standardise N)
    train_sequences: int
    validation_sequences: int
    epochs_run: int
    val_rmse: float  # streamed over each whole series, judged on its validation part (copies not included)
    val_mae: float
    naive_rmse: float
    naive_mae: float
    features: list[str]
    window: int  # samples per training sequence
    standardise: int | None  # N: each series scaled by its first N samples (0: all); None: raw units
    horizon: int
    difference: bool = False  # the model sees changes and forecasts the change ahead (over their head's spread)
    data: str = ""  # what it learned from
    head: str = "all"  # of each series: "probation" (the protocol's rows), a fraction, or "all"
    seed: int = 0
    loss: str = "huber"
    refused_rows: int = 0  # rows of the part learned from with a value that is not a finite number (left out)

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
#: Training sequences kept for convert's calibration.
CALIBRATION_SEQUENCES = 128
#: Series streamed together when the trained model is judged on whole series (:func:`streamed_errors`), and the
#: samples one call may hold (padding included: the layers' outputs for each are kept, 64 units in 256 bytes).
STREAMED_BATCH = 16
STREAMED_SAMPLES = 1_000_000
#: A training sequence begins every window / STRIDE_DIVISOR samples.
STRIDE_DIVISOR = 8


def targets(series: np.ndarray, horizon: int, cumulative: bool = False) -> np.ndarray:
    """(L - horizon, horizon): at each sample, the next ``horizon`` values of the first feature (``cumulative``:
    their running sums, for a series of changes: the change from this sample to each step ahead)."""
    n = len(series) - horizon
    if n <= 0:
        return np.zeros((0, horizon), np.float32)
    y = series[np.arange(n)[:, None] + 1 + np.arange(horizon), 0]
    return (np.cumsum(y, axis=1) if cumulative else y).astype(np.float32)


def sequences(series: np.ndarray, length: int, horizon: int, cumulative: bool = False, start: int = 0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sequences of ``length`` samples from ``series`` (L, F), one every ``length / STRIDE_DIVISOR`` samples, the
    last ending at the last sample whose targets are known: inputs (N, length, F), targets (N, length, horizon)
    (:func:`targets`) and the row each begins at (N,). ``start``: the first row a sequence may begin at (earlier if
    none would fit after it). A series shorter than ``length`` plus ``horizon`` gives none."""
    y_all = targets(series, horizon, cumulative)
    last = len(y_all) - length  # the latest start
    if last < 0:
        return (np.zeros((0, length, series.shape[1]), np.float32), np.zeros((0, length, horizon), np.float32),
                np.zeros(0, np.int64))
    starts = np.unique(np.r_[np.arange(min(start, last), last + 1, max(1, length // STRIDE_DIVISOR)), last])
    idx = starts[:, None] + np.arange(length)
    return series[idx].astype(np.float32), y_all[idx], starts


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


def train(data: str | Path, out: str | Path, *, window: int = 256, units: tuple[int, ...] = (64, 32), dense: int = 16,
          cell: str = "lstm", horizon: int = 1, epochs: int = 25, batch: int = 32, patience: int = 5,
          validation: float = 0.2, columns: list[str] | None = None, seed: int = 0, max_sequences: int = 600,
          burn_in: int = 32, head: float | str | None = None, standardise: int | None = None, difference: bool = False,
          loss: str = "huber", progress: bool = True) -> TrainReport:
    """Train, save ``out`` (.keras), ``.report.json`` and ``.calibration.npy`` beside it; return the report.

    The model takes streams of any length; it learns from sequences of ``window`` samples (:func:`sequences`), a
    forecast at every step but the first ``burn_in``, at most ``max_sequences`` of them drawn at random (and as many
    for validation). The budget (``epochs``, ``max_sequences``) is the one docs/evaluation.md measures detection
    with: 50 epochs on 1,000 sequences forecast better but found anomalies worse there. ``head`` keeps only the part
    of each series that may be learned from (:func:`heads`; ``"probation"``: never the part a file is scored on).
    ``standardise`` scales each series by the mean and standard deviation of its first ``standardise`` samples (0:
    of all that is kept), for one model shared by series of any units: serve it with ``input.standardise`` set to
    the same N (``edge-lstm evaluate --standardise probation`` for 0 with ``head="probation"``). ``difference``
    (with ``standardise``) trains on each series' sample-to-sample changes, scaled by the spread of those in the
    same N samples, to forecast the change ahead: for signals whose noise is small against the range their
    operating points span, the noise then stays near unit size for the network. ``loss``: one of :data:`LOSSES`
    (docs/evaluation.md measures the choice).
    """
    if loss not in LOSSES:
        raise CalibrationDataError(f"loss must be one of {', '.join(LOSSES)}, not {loss!r}")
    if difference and standardise is None:
        raise CalibrationDataError("difference needs standardise: the changes are scaled by each series' first "
                                   "N samples")
    if max_sequences < 1:
        raise CalibrationDataError(f"max_sequences must be positive, not {max_sequences}")
    series, names = load_series(data, columns)
    series = heads(data, series, head)
    kept = [finite_rows(s) for s in series]  # as the daemon refuses a sample with such a value
    refused = sum(len(s) - len(k) for s, k in zip(series, kept, strict=True))
    series = [k for k in kept if len(k)]
    if not series:
        raise CalibrationDataError(f"{data}: no row holds a number in every column")
    originals = len(series)
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
    burn = min(burn_in, window // 2)
    # Each step's loss counts after the burn-in; a validation sequence judges only the steps past the cut (it
    # starts earlier when the validation part is shorter than a sequence).
    parts: dict[str, tuple[list, list, list]] = {"train": ([], [], []), "val": ([], [], [])}
    for s in series:
        cut = int(len(s) * (1 - validation))
        for name, piece, start, first in (("train", s[:cut], 0, 0), ("val", s, max(0, cut - burn), cut)):
            x, y, starts = sequences(piece, window, horizon, cumulative=difference, start=start)
            judged = (np.arange(window) >= burn) & (starts[:, None] + np.arange(window) >= first)
            for part, item in zip(parts[name], (x, y, judged.astype(np.float32)), strict=True):
                part.append(item)
    x_train, y_train, w_train = (np.concatenate(a) for a in parts["train"])
    x_val, y_val, w_val = (np.concatenate(a) for a in parts["val"])
    if not len(x_train) or not w_val.any():
        raise CalibrationDataError(f"{data}: too little data for sequences of {window} samples (train "
                                   f"{len(x_train)}, validation {len(x_val)}): a shorter --window, or more data")
    rng = np.random.default_rng(seed)
    if len(x_train) > max_sequences:
        keep = np.sort(rng.choice(len(x_train), max_sequences, replace=False))
        x_train, y_train, w_train = x_train[keep], y_train[keep], w_train[keep]
    if len(x_val) > max_sequences:
        keep = np.sort(rng.choice(len(x_val), max_sequences, replace=False))
        x_val, y_val, w_val = x_val[keep], y_val[keep], w_val[keep]
    train_values = np.concatenate([s[: int(len(s) * (1 - validation))] for s in series])
    mean, std = float(train_values[:, 0].mean()), float(train_values[:, 0].std() or 1.0)

    with tensorflow_quiet():
        import keras

    keras.utils.set_random_seed(seed)
    norm = keras.layers.Normalization()
    norm.adapt(train_values)
    recurrent = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    core = [norm, *(recurrent(u, return_sequences=True) for u in units),
            keras.layers.Dense(dense, activation="relu"), keras.layers.Dense(horizon)]
    features = x_train.shape[2]
    fit_model = keras.Sequential([keras.Input((None, features)), *core])
    fit_loss = keras.losses.Huber(delta=1.0) if loss == "huber" else "mse"
    fit_model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), loss=fit_loss)
    bar = tqdm(total=epochs, desc="training", unit="epoch", disable=not progress)

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{(logs or {}).get('loss', 0):.4f}", val=f"{(logs or {}).get('val_loss', 0):.4f}")

    stop = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    history = fit_model.fit(x_train, (y_train - mean) / std, sample_weight=w_train,
                            validation_data=(x_val, (y_val - mean) / std, w_val),
                            epochs=epochs, batch_size=batch, verbose=0, callbacks=[stop, Progress()])
    bar.close()
    # The saved model forecasts in raw units: the same layers, then the inverse of the target scaling.
    model = keras.Sequential([keras.Input((None, features)), *core, keras.layers.Rescaling(std, mean)])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    errors, naive_errors = streamed_errors(model, series[:originals], validation, horizon, difference)
    report = TrainReport(
        model=str(out), series=originals, copies=len(series) - originals, train_sequences=len(x_train),
        validation_sequences=len(x_val), epochs_run=len(history.history["loss"]),
        val_rmse=float(np.sqrt(np.mean(errors**2))), val_mae=float(np.mean(np.abs(errors))),
        naive_rmse=float(np.sqrt(np.mean(naive_errors**2))), naive_mae=float(np.mean(np.abs(naive_errors))),
        features=names, window=window, horizon=horizon, standardise=standardise, difference=difference,
        data=str(data), head="all" if head is None else str(head), seed=seed, loss=loss, refused_rows=refused,
    )
    # Input sequences for `edge-lstm convert` (its default --calibration): in the space the model sees.
    sample = np.sort(rng.choice(len(x_train), min(CALIBRATION_SEQUENCES, len(x_train)), replace=False))
    np.save(out.with_suffix(".calibration.npy"), x_train[sample])
    out.with_suffix(".report.json").write_text(json.dumps({**asdict(report), "skill": report.skill}, indent=2))
    return report


def streamed_errors(model: Any, series: list[np.ndarray], validation: float, horizon: int, difference: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The model's forecast errors and the last value's, each series streamed whole from zero state (as the daemon
    runs it), over its last ``validation`` fraction. Series of like length run together (at most
    ``STREAMED_BATCH``, ``STREAMED_SAMPLES`` samples with padding), padded at the end (the model is causal: padding
    changes no earlier output), through one traced graph: a graph step costs about as much for 16 series as for
    one."""
    from converter.convert import traced

    forward = traced(model)
    jobs = []  # (inputs, targets, first judged row)
    for s in series:
        y = targets(s, horizon, cumulative=difference)
        cut = int(len(s) * (1 - validation))
        if len(y) > cut:
            jobs.append((s[: len(y)], y, cut))
    if not jobs:
        raise CalibrationDataError("no series long enough to validate on")
    predicted: list[np.ndarray] = [np.empty(0)] * len(jobs)
    groups: list[list[int]] = []
    for k in sorted(range(len(jobs)), key=lambda k: len(jobs[k][0])):  # (each group's last is its longest)
        if groups and len(groups[-1]) < STREAMED_BATCH and (len(groups[-1]) + 1) * len(jobs[k][0]) <= STREAMED_SAMPLES:
            groups[-1].append(k)
        else:
            groups.append([k])
    for group in groups:
        batch = np.zeros((len(group), len(jobs[group[-1]][0]), jobs[group[0]][0].shape[1]), np.float32)
        for row, k in enumerate(group):
            batch[row, : len(jobs[k][0])] = jobs[k][0]
        out = np.asarray(forward(batch))
        for row, k in enumerate(group):
            predicted[k] = out[row, : len(jobs[k][0])]
    errors, naive_errors = [], []
    for (x, y, cut), p in zip(jobs, predicted, strict=True):
        naive = np.zeros_like(y) if difference else np.repeat(x[:, :1], horizon, axis=1)
        errors.append((p.reshape(y.shape) - y)[cut:].ravel())
        naive_errors.append((naive - y)[cut:].ravel())
    return np.concatenate(errors), np.concatenate(naive_errors)
