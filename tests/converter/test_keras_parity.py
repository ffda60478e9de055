"""Keras models of several architectures convert to bundles that match Keras when streamed."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import edge_lstm  # noqa: E402
from converter.convert import convert  # noqa: E402
from edge_lstm.runtime import activations  # noqa: E402
from tests.support.keras_models import ARCHITECTURES  # noqa: E402

BACKENDS = ["numpy", "numba-f32"]


def _assert_close_to_keras(ours: np.ndarray, theirs: np.ndarray) -> None:
    err = np.abs(ours - theirs)
    limit = 1e-4 * np.maximum(1.0, np.abs(theirs))
    assert (err <= limit).all(), f"max error {err.max():.3g} exceeds 1e-4 x max(1, |y|)"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_streaming_equals_keras_predict(converted, name, backend):
    keras_model, windows, path, _ = converted[name]
    model = edge_lstm.load(path, backend)
    test_windows = windows[-16:]  # not the calibration windows
    theirs = keras_model.predict(test_windows, verbose=0)
    ours = model.run(test_windows)
    if not model.spec.sequence_output:
        ours = ours[:, -1]
    assert ours.size == theirs.size
    _assert_close_to_keras(ours.reshape(theirs.shape), theirs)
    # Every window separately, through a bank stepped one sample at a time.
    bank = model.streams(len(test_windows))
    for t in range(test_windows.shape[1]):
        last = bank.step(test_windows[:, t])
    _assert_close_to_keras(last.reshape(len(test_windows), -1), theirs.reshape(len(test_windows), -1)
                           if not model.spec.sequence_output else theirs[:, -1])


def test_every_step_is_keras_on_the_prefix(converted):
    """One sample at a time equals Keras re-run on the window so far, at every step."""
    keras_model, windows, path, _ = converted["sequence_to_sequence"]
    model = edge_lstm.load(path, "numba-f32")
    series = windows[0]
    ours = model.run(series)
    for t in (1, 2, 7, len(series)):
        theirs = keras_model.predict(series[None, :t], verbose=0)[0, -1]
        _assert_close_to_keras(ours[t - 1], theirs)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_conversion_reports_parity_within_tolerance(converted, name):
    *_, result = converted[name]
    assert set(result.parity) == {"numpy", "numba-f32", "litert-f32", "numba-int8", "litert", "litert-int8"}
    for backend, report in result.parity.items():
        assert report.get("within_tolerance", True), (backend, report)
    assert (result.path / "parity.json").is_file()


def test_seed_model_shape_is_what_users_train(converted):
    keras_model, _, path, _ = converted["seed"]
    assert keras_model.count_params() == 29_857
    spec = edge_lstm.read_bundle(path).spec
    assert [(layer.kind, layer.units) for layer in spec.layers] == [("lstm", 64), ("lstm", 32), ("dense", 16),
                                                                     ("dense", 1)]


def test_normalization_is_folded_into_the_input(converted):
    keras_model, _, path, _ = converted["multi_feature_horizon"]
    spec = edge_lstm.read_bundle(path).spec
    norm = next(layer for layer in keras_model.layers if type(layer).__name__ == "Normalization")
    np.testing.assert_allclose(spec.input_scale, 1 / np.sqrt(np.asarray(norm.variance)).ravel(), rtol=1e-5)
    assert spec.layers[0].kind == "lstm", "the normalisation is not a runtime layer"
    assert spec.output_shape == (5, 2)


def test_legacy_h5_converts_to_the_same_weights(converted, tmp_path):
    keras_model, windows, path, _ = converted["gru_stack"]
    keras_model.save(tmp_path / "legacy.h5")
    np.save(tmp_path / "cal.npy", windows[:8])
    result = convert(tmp_path / "legacy.h5", tmp_path / "cal.npy", tmp_path / "bundle", progress=False)
    a, b = edge_lstm.read_bundle(path).weights, edge_lstm.read_bundle(result.path).weights
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("name", activations.SUPPORTED)
def test_activation_definitions_match_keras(name):
    x = np.linspace(-7, 7, 281, dtype=np.float32).reshape(1, -1)
    theirs = np.asarray(keras.activations.get(name)(x))
    np.testing.assert_allclose(activations.apply(name, x), theirs, rtol=1e-5, atol=1e-6)
