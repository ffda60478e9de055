"""The TFLite models' representative dataset: (input, state) samples that cover what the stream reaches."""

import numpy as np

from converter.tflite_step import representative_samples, tensor_names
from edge_lstm.runtime.bundle import bundle_from_parts
from edge_lstm.runtime.kernels.reference import ReferenceKernel
from tests.support.bundles import random_weights

MODEL = {
    "input": {"features": 1},
    "layers": [
        {"type": "lstm", "name": "lstm", "input_dim": 1, "units": 8},
        {"type": "lstm", "name": "lstm_1", "input_dim": 8, "units": 4},
        {"type": "dense", "name": "head", "input_dim": 4, "units": 1},
    ],
    "output": {"size": 1},
}


def test_a_rare_spike_and_the_states_after_it_are_in_the_calibration_samples():
    """A random draw of (window, step) pairs, even of thousands, misses a spike in one window of 512 at one
    step; its input and the states it drives must set the calibrated ranges, or TFLite clips them."""
    bundle = bundle_from_parts(MODEL, random_weights(MODEL, seed=1))
    rng = np.random.default_rng(0)
    windows = rng.normal(0.0, 1.0, (512, 40, 1)).astype(np.float32)
    windows[317, 29, 0] = 25.0
    samples = representative_samples(bundle, windows, count=4000)
    assert 3500 <= len(samples) <= 4500
    assert max(abs(float(s["x"][0, 0])) for s in samples) == 25.0
    # Every state slot's largest magnitude over the whole stream (the state each step starts from) is sampled.
    kernel, names = ReferenceKernel(bundle), tensor_names(bundle)
    state = kernel.new_state(len(windows))
    peaks = {slot.key: 0.0 for slot in bundle.spec.state_slots}
    for t in range(windows.shape[1]):
        for slot in bundle.spec.state_slots:
            peaks[slot.key] = max(peaks[slot.key], float(np.abs(state[:, slot.offset:slot.offset + slot.size]).max()))
        kernel.step(state, np.ascontiguousarray(windows[:, t]))
    for key, peak in peaks.items():
        sampled = max(float(np.abs(s[names[key]]).max()) for s in samples)
        assert sampled == peak, f"{key}: sampled up to {sampled:.3f} of the stream's {peak:.3f}"
