"""``edge-lstm convert``: a Keras model file becomes a verified bundle with a parity report."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import edge_lstm
from converter.calibration import load_calibration
from converter.keras_import import import_keras_model
from converter.parity import FLOAT_TOLERANCE, QUANTISED_RMS_VS_STD, float_sensitivity, parity
from converter.quiet import tensorflow_quiet
from edge_lstm.errors import EdgeLSTMError
from edge_lstm.runtime.bundle import WEIGHTS_INT8, bundle_from_parts, npz_bytes, write_bundle
from edge_lstm.runtime.quantize import quantize_int8

FLOAT_BACKENDS = ("numpy", "numba-f32", "litert-f32")
QUANTISED_BACKENDS = ("numba-int8", "litert")
#: Reported for comparison only: int8 activations (and cell state) are known to be less accurate.
INFORMATIVE_BACKENDS = ("litert-int8",)
BACKENDS = FLOAT_BACKENDS + QUANTISED_BACKENDS + INFORMATIVE_BACKENDS
_CHUNK = 64
#: Samples of the one long stream, state carried, on which a model of any input length is also checked.
LONG_STREAM = 4096


class ConversionError(EdgeLSTMError):
    """The model file cannot be read or converted."""


@dataclass
class ConversionResult:
    path: Path
    parity: dict[str, dict[str, Any]]
    manifest: dict[str, Any]


def traced(keras_model: Any) -> Any:
    """The model's inference as one traced TensorFlow graph (retraced per input shape): an LSTM called eagerly over
    a long stream dispatches every step from Python (a 4,096-sample stream: 30 s eagerly, 0.7 s traced)."""
    import tensorflow as tf

    return tf.function(tf.autograph.experimental.do_not_convert(lambda v: keras_model(v, training=False)),
                       reduce_retracing=True)


def load_keras(path: str | Path) -> Any:
    """Load a ``.keras`` or legacy ``.h5`` model for inference, with a clear error on failure."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: no such model file")
    if path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ConversionError(f"{path}: expected a .keras or .h5 model file")
    with tensorflow_quiet():
        try:
            import keras
        except ImportError:
            raise ConversionError("converting needs TensorFlow: pip install 'edge-lstm[convert]'") from None
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as exc:  # Keras raises many types for unreadable or custom-object files
            raise ConversionError(f"{path}: Keras cannot load this model ({type(exc).__name__}: {exc})") from None


def _batched(fn: Any, windows: np.ndarray, label: str, progress: bool) -> np.ndarray:
    chunks = []
    for start in tqdm(range(0, len(windows), _CHUNK), desc=label, unit="batch", disable=not progress, leave=False):
        chunks.append(fn(windows[start : start + _CHUNK]))
    return np.concatenate(chunks)


def convert(
    model_path: str | Path,
    calibration: str | Path,
    out: str | Path,
    *,
    feature_names: list[str] | None = None,
    window: int | None = None,
    backends: tuple[str, ...] = BACKENDS,
    standardise: int = 0,
    difference: bool = False,
    training: dict[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ConversionResult:
    """Convert ``model_path`` into a bundle at ``out`` and report each backend's parity with Keras.

    ``standardise`` = N records that the model expects each stream scaled by the mean and std of its
    first N samples (``edge-lstm train --standardise N``); the daemon then applies it by default.
    ``difference`` records that it sees each sample's change over the spread of the changes in those N
    samples and forecasts the change (``edge-lstm train --difference``). ``training`` (what the model learned
    from: data, head, seed) is recorded as given, for evaluation summaries to state.
    """
    keras_model = load_keras(model_path)
    import keras

    spec, weights = import_keras_model(keras_model, feature_names)
    windows = load_calibration(calibration, spec.features, window or spec.window)
    if spec.window and windows.shape[1] != spec.window:
        raise ConversionError(
            f"calibration windows have {windows.shape[1]} steps but the model's input is fixed at {spec.window}"
        )
    float_bundle = bundle_from_parts(spec.to_json(), weights)
    if progress:
        print(f"calibrating int8 on {len(windows)} windows of {windows.shape[1]} steps…", flush=True)
    # A model of any input length that forecasts at every step also runs as the daemon runs it: one stream of
    # thousands of samples, state carried (the calibration windows end to end): int8 is calibrated on it too, and
    # every backend checked against Keras on it.
    stream = windows.reshape(-1, windows.shape[2])[:LONG_STREAM] if spec.window is None and spec.sequence_output \
        else None
    int8_params, int8_arrays = quantize_int8(float_bundle, windows, stream)
    quantization = {"int8": int8_params}
    tflite_files, tflite_section, notes = _tflite(float_bundle, windows, int8_arrays, progress, stream)
    bundle = bundle_from_parts(spec.to_json(), weights, manifest={"model": spec.to_json(),
                               "quantization": quantization, "tflite": tflite_section},
                               int8_weights=int8_arrays, files=tflite_files)
    backends = tuple(b for b in backends if not b.startswith("litert") or tflite_files)

    forward = traced(keras_model)

    def keras_predict(batch: np.ndarray) -> np.ndarray:
        y = np.asarray(forward(np.ascontiguousarray(batch, np.float32)), dtype=np.float32)
        return y.reshape(len(batch), batch.shape[1], -1) if spec.sequence_output else y.reshape(len(batch), -1)

    reference = _batched(keras_predict, windows, "keras reference", progress)
    stream_reference = keras_predict(stream[None])[0] if stream is not None else None
    # Where the model's own float32 rounding moves an output, Keras and any exact float kernel differ there too.
    numpy_model = edge_lstm.load(bundle, "numpy")

    def last_or_all(y: np.ndarray) -> np.ndarray:
        return y if spec.sequence_output else y[:, -1]

    sensitivity = float_sensitivity(lambda w: last_or_all(_batched(numpy_model.run, w, "", False)), windows)
    stream_sensitivity = float_sensitivity(numpy_model.run, stream) if stream is not None else None
    report: dict[str, dict[str, Any]] = {}
    for backend in backends:
        model = edge_lstm.load(bundle, backend)
        ours = last_or_all(_batched(model.run, windows, f"parity {backend}", progress))
        report[backend] = _judged(backend, reference, ours, sensitivity)
        if stream is not None:
            streamed = _judged(backend, stream_reference, model.run(stream), stream_sensitivity)
            report[backend]["stream"] = {"steps": len(stream), **streamed}
            if streamed.get("within_tolerance") is False:
                report[backend]["within_tolerance"] = False
    source = Path(model_path)
    manifest = {
        "converter": {
            "version": edge_lstm.__version__,
            "keras_version": keras.__version__,
        },
        "source": {"file": source.name, "sha256": hashlib.sha256(source.read_bytes()).hexdigest()},
        "model": spec.to_json(),
        "quantization": quantization,
        "tflite": tflite_section,
        "backends": list(backends),
        "parity_report": "parity.json",
    }
    if standardise or difference:
        manifest["preprocessing"] = {"standardise": int(standardise), **({"difference": True} if difference else {})}
    if training:
        manifest["training"] = dict(training)
    parity_doc = {"windows": int(windows.shape[0]), "steps": int(windows.shape[1]), "backends": report}
    parity_file = json.dumps(parity_doc, indent=2).encode()
    if notes:
        manifest["notes"] = notes
    extra = {"parity.json": parity_file, WEIGHTS_INT8: npz_bytes(int8_arrays), **tflite_files}
    path = write_bundle(out, manifest, weights, extra, overwrite=overwrite)
    return ConversionResult(path=path, parity=report, manifest=manifest)


def _judged(backend: str, reference: np.ndarray, ours: np.ndarray, sensitivity: np.ndarray) -> dict[str, Any]:
    """Parity of a backend's outputs with Keras', judged by the backend's kind (a float one with the model's own
    float32 ``sensitivity`` per output: :func:`converter.parity.float_sensitivity`)."""
    if backend in INFORMATIVE_BACKENDS:
        return parity(reference, ours)
    if backend in QUANTISED_BACKENDS:
        return parity(reference, ours, rms_vs_std=QUANTISED_RMS_VS_STD)
    return parity(reference, ours, FLOAT_TOLERANCE, sensitivity=sensitivity)


def _tflite(
    bundle: Any, windows: np.ndarray, means: dict[str, np.ndarray], progress: bool, stream: np.ndarray | None = None
) -> tuple[dict[str, bytes], dict[str, Any], list[str]]:
    """The TFLite step models, or none with a note saying why (the other backends still work)."""
    from converter.tflite_step import F32_FILE, INT8_FILE, INT16X8_FILE, build_tflite, tensor_names

    if progress:
        print("building the TFLite step models (float32 and full-integer int8)…", flush=True)
    try:
        with tensorflow_quiet():
            files, normalised = build_tflite(bundle, windows,
                                             {k: v for k, v in means.items() if k.endswith(".input_mean")}, stream)
    except Exception as exc:  # TFLite raises many types for unsupported ops
        note = f"no TFLite step model: the TFLite converter failed ({type(exc).__name__}: {str(exc)[:300]})"
        return {}, {}, [note]
    names = tensor_names(bundle)
    section = {variant: {"file": file, "tensors": names, "input": normalised}
               for variant, file in (("f32", F32_FILE), ("int8", INT8_FILE), ("int16x8", INT16X8_FILE))}
    return files, section, []
