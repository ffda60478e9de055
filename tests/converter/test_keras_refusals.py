"""Models that cannot run one sample at a time are refused with the layer's name and a reason."""

import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from converter.keras_import import import_keras_model  # noqa: E402
from edge_lstm.errors import UnsupportedModelError  # noqa: E402


def _seq(*layers, shape=(20, 1)):
    return keras.Sequential([keras.Input(shape), *layers])


@pytest.mark.parametrize(
    ("model_fn", "pattern"),
    [
        (lambda: _seq(keras.layers.Bidirectional(keras.layers.LSTM(4), name="bidi"), keras.layers.Dense(1)),
         r"layer 'bidi' \(Bidirectional\).*backwards"),
        (lambda: _seq(keras.layers.Conv1D(4, 3, name="conv3"), keras.layers.LSTM(4)),
         r"layer 'conv3' \(Conv1D\).*kernel_size 3 > 1"),
        (lambda: _seq(keras.layers.LSTM(4, return_sequences=True), keras.layers.Flatten(name="flat"),
                      keras.layers.Dense(1)),
         r"layer 'flat' \(Flatten\).*whole window"),
        (lambda: _seq(keras.layers.LSTM(4, go_backwards=True, name="back")), r"'back'.*go_backwards"),
        (lambda: _seq(keras.layers.LSTM(4, return_sequences=True), keras.layers.GlobalAveragePooling1D(name="gap")),
         r"'gap' \(GlobalAveragePooling1D\)"),
        (lambda: _seq(keras.layers.LayerNormalization(name="ln"), keras.layers.LSTM(4)),
         r"'ln' \(LayerNormalization\).*does not know this layer"),
        (lambda: _seq(keras.layers.Dense(4), shape=(5,)), r"input shape is \(None, 5\)"),
    ],
)
def test_refused_with_layer_name(model_fn, pattern):
    with pytest.raises(UnsupportedModelError, match=pattern):
        import_keras_model(model_fn())


def test_attention_model_is_refused():
    inp = keras.Input((20, 2))
    h = keras.layers.LSTM(8, return_sequences=True)(inp)
    h = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(h, h)
    out = keras.layers.Dense(1)(keras.layers.LSTM(4)(h))
    with pytest.raises(UnsupportedModelError, match="'mha' \\(MultiHeadAttention\\)"):
        import_keras_model(keras.Model(inp, out))


def test_branching_functional_model_is_refused():
    inp = keras.Input((20, 2))
    a = keras.layers.LSTM(8, return_sequences=True)(inp)
    b = keras.layers.Dense(8)(inp)
    merged = keras.layers.Add(name="merge")([a, b])
    out = keras.layers.Dense(1)(keras.layers.LSTM(4)(merged))
    with pytest.raises(UnsupportedModelError, match=r"'merge' \(Add\).*takes 2 inputs.*single-path"):
        import_keras_model(keras.Model(inp, out))


def test_nested_sequential_is_flattened():
    inner = keras.Sequential([keras.Input((20, 4)), keras.layers.LSTM(6), keras.layers.Dense(2)], name="inner")
    outer = _seq(keras.layers.Dense(4), inner, shape=(20, 3))
    spec, _ = import_keras_model(outer)
    assert [(layer.kind, layer.units) for layer in spec.layers] == [("dense", 4), ("lstm", 6), ("dense", 2)]


def test_cli_refuses_bidirectional_without_traceback(tmp_path):
    model = _seq(keras.layers.Bidirectional(keras.layers.LSTM(4), name="bidirectional_encoder"),
                 keras.layers.Dense(1))
    model.save(tmp_path / "bidi.keras")
    np.save(tmp_path / "cal.npy", np.zeros((4, 20, 1), np.float32))
    result = subprocess.run(
        [sys.executable, "-m", "edge_lstm", "convert", str(tmp_path / "bidi.keras"), "--calibration",
         str(tmp_path / "cal.npy"), "--out", str(tmp_path / "b"), "--quiet"],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "bidirectional_encoder" in result.stderr and "Bidirectional" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "b").exists()


def test_unreadable_model_file_is_a_clear_error(tmp_path):
    from converter.convert import ConversionError, load_keras

    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(ConversionError, match=r"broken\.keras: Keras cannot load this model"):
        load_keras(tmp_path / "broken.keras")
    with pytest.raises(ConversionError, match=r"expected a \.keras or \.h5"):
        (tmp_path / "model.pt").write_bytes(b"")
        load_keras(tmp_path / "model.pt")
