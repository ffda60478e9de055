"""Shared fixtures: Keras models trained and converted once per test session."""

import os

# CUDA kernels run in Numba's simulator unless a run asks for the GPU (NUMBA_ENABLE_CUDASIM=0).
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np
import pytest


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """name -> (keras model, windows, bundle path, conversion result), each trained and converted once."""
    keras = pytest.importorskip("keras")
    from converter.convert import convert
    from tests.support.keras_models import ARCHITECTURES

    out = {}
    for name, build in ARCHITECTURES.items():
        keras.utils.set_random_seed(0)
        model, windows = build()
        root = tmp_path_factory.mktemp(name)
        model_path = root / f"{name}.keras"
        model.save(model_path)
        np.save(root / "calibration.npy", windows[:64])
        result = convert(model_path, root / "calibration.npy", root / "bundle", progress=False)
        out[name] = (model, windows, result.path, result)
    return out




@pytest.fixture(scope="session")
def forecaster(tmp_path_factory):
    """A converted, well-trained one-step forecaster of tests.support.keras_models.sine_series."""
    keras = pytest.importorskip("keras")
    from converter.convert import convert
    from tests.support.keras_models import sine_forecaster

    keras.utils.set_random_seed(0)
    model, windows = sine_forecaster()
    root = tmp_path_factory.mktemp("forecaster")
    model.save(root / "forecaster.keras")
    np.save(root / "calibration.npy", windows[:64])
    return convert(root / "forecaster.keras", root / "calibration.npy", root / "bundle", progress=False).path
