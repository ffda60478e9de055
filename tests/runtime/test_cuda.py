"""The CUDA kernel equals numba-f32 to 1e-5 (in Numba's CUDA simulator on machines without a GPU)."""

import numpy as np
import pytest

import edge_lstm
from tests.support.bundles import MIXED_MODEL, lstm_model, random_bundle

cuda = pytest.importorskip("numba.cuda")


@pytest.fixture(scope="module")
def mixed():
    return random_bundle(MIXED_MODEL)


def test_every_layer_kind_matches_numba_f32(mixed):
    x = np.random.default_rng(3).normal(size=(3, 5, 2)).astype(np.float32)
    expected = edge_lstm.load(mixed, "numba-f32").run(x)
    np.testing.assert_allclose(edge_lstm.load(mixed, "cuda").run(x), expected, rtol=0, atol=1e-5)


def test_bank_step_subset_reset_and_state_round_trip(mixed):
    x = np.random.default_rng(4).normal(size=(5, 3, 2)).astype(np.float32)
    gpu, cpu = edge_lstm.load(mixed, "cuda").streams(5), edge_lstm.load(mixed, "numba-f32").streams(5)
    for t in range(3):
        np.testing.assert_allclose(gpu.step(x[:, t]), cpu.step(x[:, t]), atol=1e-5)
    np.testing.assert_allclose(gpu.step(x[[4, 0], 0], streams=[4, 0]), cpu.step(x[[4, 0], 0], streams=[4, 0]),
                               atol=1e-5)
    gpu.reset(1)
    cpu.reset(1)
    for key, value in cpu.state.items():
        np.testing.assert_allclose(gpu.state[key], value, atol=1e-5)
    restored = edge_lstm.load(mixed, "cuda").streams(5)
    restored.state = gpu.state
    np.testing.assert_array_equal(restored.step(x[:, 1]), gpu.step(x[:, 1]))
    with pytest.raises(ValueError, match="NaN"):
        gpu.step(np.full((5, 2), np.nan))


def test_steps_of_changing_size_on_two_banks_keep_their_own_outputs(mixed):
    """Steps share staging buffers (grown to the largest step): outputs already returned must not change."""
    model, reference = edge_lstm.load(mixed, "cuda"), edge_lstm.load(mixed, "numba-f32")
    gpu, cpu = [model.streams(6), model.streams(6)], [reference.streams(6), reference.streams(6)]
    x = np.random.default_rng(6).normal(size=(7, 6, 2)).astype(np.float32)
    kept = []
    plan = [(0, [2, 5]), (1, None), (0, None), (1, [3, 0]), (0, [1]), (1, None), (0, [4, 0, 2])]
    for t, (bank, rows) in enumerate(plan):
        xt = x[t] if rows is None else x[t, : len(rows)]
        out = gpu[bank].step(xt, streams=rows)
        np.testing.assert_allclose(out, cpu[bank].step(xt, streams=rows), atol=1e-5)
        kept.append((out, out.copy()))
    for out, copy in kept:
        np.testing.assert_array_equal(out, copy)


def test_odd_bank_size_and_dense_only_tail():
    bundle = random_bundle(lstm_model(features=3, units=(6,), outputs=4))
    x = np.random.default_rng(5).normal(size=(7, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(edge_lstm.load(bundle, "cuda").run(x), edge_lstm.load(bundle, "numba-f32").run(x),
                               atol=1e-5)


def test_converted_seed_model_matches(converted):
    _, windows, path, _ = converted["seed"]
    x = windows[:2, :4]
    np.testing.assert_allclose(edge_lstm.load(path, "cuda").run(x), edge_lstm.load(path, "numba-f32").run(x),
                               atol=1e-5)
