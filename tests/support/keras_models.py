"""Small Keras models of the architectures users bring, trained briefly on synthetic data."""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def synthetic_windows(n: int, steps: int, features: int, seed: int = 0) -> np.ndarray:
    """Noisy sines with per-feature phase, offset and scale (so normalisation matters)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[None, :, None] + rng.uniform(0, 100, (n, 1, 1))
    freq = 1.0 / np.linspace(8, 20, features)[None, None, :]
    base = np.sin(t * freq) * np.linspace(1, 5, features) + np.linspace(0, 10, features)
    return (base + 0.1 * rng.normal(size=base.shape)).astype(np.float32)


def _fit(model, x: np.ndarray, y: np.ndarray):
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    return model


def seed_forecaster(window: int = 50):
    """The users' typical model: LSTM(64)→LSTM(32)→Dense(16)→Dense(1), 29,857 parameters."""
    import keras

    x = synthetic_windows(256, window + 1, 1)
    model = keras.Sequential([
        keras.Input((window, 1)),
        keras.layers.LSTM(64, return_sequences=True),
        keras.layers.Dropout(0.2),
        keras.layers.LSTM(32),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1),
    ])
    return _fit(model, x[:, :-1], x[:, -1]), x[:, :-1]


def multi_feature_horizon(window: int = 30, horizon: int = 5):
    """Three features normalised in the model, a 5-step forecast of two of them."""
    import keras

    x = synthetic_windows(256, window + horizon, 3, seed=1)
    norm = keras.layers.Normalization()
    norm.adapt(x.reshape(-1, 3))
    model = keras.Sequential([
        keras.Input((window, 3)),
        norm,
        keras.layers.LSTM(24, return_sequences=True),
        keras.layers.LSTM(16),
        keras.layers.Dense(horizon * 2),
        keras.layers.Reshape((horizon, 2)),
    ])
    return _fit(model, x[:, :window], x[:, window:, :2]), x[:, :window]


def gru_stack(window: int = 40):
    """Both GRU flavours: reset_after=True (Keras default) then reset_after=False."""
    import keras

    x = synthetic_windows(256, window + 1, 2, seed=2)
    model = keras.Sequential([
        keras.Input((window, 2)),
        keras.layers.GRU(16, return_sequences=True),
        keras.layers.GRU(12, reset_after=False),
        keras.layers.Dense(1),
    ])
    return _fit(model, x[:, :-1], x[:, -1, :1]), x[:, :-1]


def wide_single_layer(window: int = 20):
    """One wide LSTM behind a Rescaling layer."""
    import keras

    x = synthetic_windows(128, window + 1, 1, seed=3)
    model = keras.Sequential([
        keras.Input((window, 1)),
        keras.layers.Rescaling(0.5, offset=-0.25),
        keras.layers.LSTM(256),
        keras.layers.Dense(1),
    ])
    return _fit(model, x[:, :-1], x[:, -1]), x[:, :-1]


def functional_mixed(window: int = 25):
    """Functional API: BatchNorm, hard-sigmoid gates, TimeDistributed, 1x1 Conv1D, SimpleRNN, softmax."""
    import keras

    x = synthetic_windows(256, window, 2, seed=4)
    inp = keras.Input((window, 2), name="signal")
    h = keras.layers.BatchNormalization()(inp)
    h = keras.layers.LSTM(16, return_sequences=True, recurrent_activation="hard_sigmoid")(h)
    h = keras.layers.TimeDistributed(keras.layers.Dense(8, activation="tanh"))(h)
    h = keras.layers.Conv1D(6, 1, activation="relu")(h)
    h = keras.layers.SimpleRNN(8)(h)
    h = keras.layers.Dropout(0.1)(h)
    out = keras.layers.Dense(3, activation="softmax")(h)
    model = keras.Model(inp, out)
    labels = keras.utils.to_categorical((x[:, -1, 0] > np.median(x[:, -1, 0])).astype(int) + 0, 3)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, labels, epochs=1, batch_size=32, verbose=0)
    return model, x


def sequence_to_sequence(steps: int = 30):
    """Variable-length input, an output at every step (return_sequences to the end)."""
    import keras

    x = synthetic_windows(128, steps + 1, 2, seed=5)
    model = keras.Sequential([
        keras.Input((None, 2)),
        keras.layers.LSTM(12, return_sequences=True),
        keras.layers.Dense(2),
    ])
    return _fit(model, x[:, :-1], x[:, 1:]), x[:, :-1]


ARCHITECTURES = {
    "seed": seed_forecaster,
    "multi_feature_horizon": multi_feature_horizon,
    "gru_stack": gru_stack,
    "wide_single_layer": wide_single_layer,
    "functional_mixed": functional_mixed,
    "sequence_to_sequence": sequence_to_sequence,
}


def sine_series(n: int, seed: int = 0) -> np.ndarray:
    """The daemon tests' signal: a noisy sine around 3 with amplitude 2 (period ≈ 57 samples)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (np.sin(t / 9.0) * 2 + 3 + 0.05 * rng.normal(size=n)).astype(np.float32)


def sine_forecaster(window: int = 32):
    """A small, well-trained one-step forecaster of :func:`sine_series` in raw units, any window length."""
    import keras

    s = sine_series(6000)
    x = np.stack([s[i : i + window] for i in range(0, len(s) - window - 1, 3)])[:, :, None]
    y = np.stack([s[i + window] for i in range(0, len(s) - window - 1, 3)])[:, None]
    norm = keras.layers.Normalization()
    norm.adapt(s[:, None])
    model = keras.Sequential([
        keras.Input((None, 1)),
        norm,
        keras.layers.LSTM(16),
        keras.layers.Dense(1),
        keras.layers.Rescaling(float(s.std()), offset=float(s.mean())),
    ])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    return model, x
