"""The load / streams(n).step / run surface, on every float backend, without TensorFlow."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import edge_lstm
from edge_lstm.runtime import activations
from edge_lstm.runtime.bundle import bundle_from_parts
from tests.support.bundles import MIXED_MODEL, lstm_model, random_bundle, random_weights

FLOAT_BACKENDS = ["numpy", "numba-f32"]


@pytest.fixture(scope="module")
def mixed():
    return random_bundle()


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(1).normal(size=(5, 40, 2)).astype(np.float32)


@pytest.mark.parametrize("backend", FLOAT_BACKENDS)
def test_step_by_step_equals_run(mixed, inputs, backend):
    model = edge_lstm.load(mixed, backend)
    bank = model.streams(inputs.shape[0])
    stepped = np.stack([bank.step(inputs[:, t]) for t in range(inputs.shape[1])], axis=1)
    np.testing.assert_allclose(stepped, model.run(inputs), rtol=0, atol=1e-6)


def test_numba_equals_numpy_reference(mixed, inputs):
    ref = edge_lstm.load(mixed, "numpy").run(inputs)
    fast = edge_lstm.load(mixed, "numba-f32").run(inputs)
    assert np.abs(ref).max() > 0.1, "the test model must produce non-trivial outputs"
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", activations.SUPPORTED)
def test_numba_activation_matches_numpy(name):
    model = {"input": {"features": 4}, "layers": [
        {"type": "simple_rnn", "name": "r", "input_dim": 4, "units": 6, "activation": "tanh"},
        {"type": "dense", "name": "d", "input_dim": 6, "units": 5, "activation": name}],
        "output": {"size": 5}}
    bundle = bundle_from_parts(model, random_weights(model, scale=2.0))
    x = np.random.default_rng(2).normal(0, 3, size=(3, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(edge_lstm.load(bundle, "numba-f32").run(x), edge_lstm.load(bundle, "numpy").run(x),
                               rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("backend", FLOAT_BACKENDS)
def test_streams_are_independent_and_subsets_step_alone(mixed, inputs, backend):
    model = edge_lstm.load(mixed, backend)
    full = model.streams(5)
    part = model.streams(5)
    for t in range(10):
        y_full = full.step(inputs[:, t])
        y_part = part.step(inputs[[4, 1], t], streams=[4, 1])
        # BLAS may round differently for another batch size, so allow float32 round-off.
        np.testing.assert_allclose(y_part, y_full[[4, 1]], rtol=0, atol=1e-6)
    state_full, state_part = full.state, part.state
    for key in state_full:
        np.testing.assert_allclose(state_part[key][[1, 4]], state_full[key][[1, 4]], rtol=0, atol=1e-6)
        assert not state_part[key][[0, 2, 3]].any(), "streams that were not stepped keep the zero state"


@pytest.mark.parametrize("backend", FLOAT_BACKENDS)
def test_state_round_trips_exactly(mixed, inputs, backend):
    model = edge_lstm.load(mixed, backend)
    bank = model.streams(5)
    for t in range(20):
        bank.step(inputs[:, t])
    saved = bank.state
    restored = model.streams(5)
    restored.state = saved
    for t in range(20, 40):
        np.testing.assert_array_equal(restored.step(inputs[:, t]), bank.step(inputs[:, t]))
    assert set(saved) == {"lstm_a/h", "lstm_a/c", "gru_plain/h", "gru_after/h", "rnn/h"}
    saved["lstm_a/h"][:] = 7.0
    assert not (bank.state["lstm_a/h"] == 7.0).any(), "state getter returns a copy"


@pytest.mark.parametrize("backend", FLOAT_BACKENDS)
def test_reset_one_stream(mixed, inputs, backend):
    model = edge_lstm.load(mixed, backend)
    bank = model.streams(5)
    for t in range(10):
        bank.step(inputs[:, t])
    bank.reset(2)
    fresh = model.streams(1)
    np.testing.assert_allclose(bank.step(inputs[:, 0])[2], fresh.step(inputs[2:3, 0])[0], rtol=0, atol=1e-6)
    bank.reset()
    assert not any(v.any() for v in bank.state.values())


@pytest.mark.parametrize("backend", FLOAT_BACKENDS)
def test_bad_inputs_are_refused_and_state_is_kept(mixed, backend):
    bank = edge_lstm.load(mixed, backend).streams(3)
    bank.step(np.ones((3, 2)))
    before = bank.state
    for dtype in (np.float64, np.float32):  # (float32: the input a hot loop gives, stepped by the shortest path)
        with pytest.raises(ValueError, match=r"shape \(3, 2\), got \(3, 3\)"):
            bank.step(np.ones((3, 3), dtype))
        with pytest.raises(ValueError, match=r"NaN or inf \(first at index \[1, 0\]\)"):
            bank.step(np.array([[0, 0], [np.nan, 0], [0, 0]], dtype))
    with pytest.raises(IndexError, match="out of range"):
        bank.step(np.ones((1, 2)), streams=[3])
    with pytest.raises(ValueError, match="at most once"):
        bank.step(np.ones((2, 2)), streams=[1, 1])
    with pytest.raises(TypeError, match="numeric"):
        bank.step(np.array([["a", "b"]] * 3))
    after = bank.state
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


@pytest.mark.parametrize("backend", ["numba-f32", "numba-int8"])
def test_steps_by_index_through_the_compiled_code_as_through_the_dispatcher(forecaster, backend):
    """A step by index (the daemon's) calls the machine code for its argument types once known
    (CompiledStep.rows): the same outputs and states as Numba's dispatcher gives, for subsets of rows in any order,
    read-only or strided (a strided one goes through the dispatcher)."""
    model = edge_lstm.load(forecaster, backend)
    direct, dispatched = model.streams(6), model.streams(6)
    rng = np.random.default_rng(4)
    for t in range(40):
        rows = rng.permutation(6)[: 1 + t % 6].astype(np.int64)
        if t % 5 == 4:
            rows = np.repeat(rows, 2)[::2]  # strided
        rows.setflags(write=bool(t % 2))
        x = rng.normal(size=(rows.size, model.features)).astype(np.float32)
        expected = dispatched._kernel.step(dispatched._state, x, np.ascontiguousarray(rows))
        np.testing.assert_array_equal(direct.step(x, streams=rows), expected)
    assert direct._kernel._step._rows_entry is not None, "the direct path was never taken"
    for key, value in direct.state.items():
        np.testing.assert_array_equal(value, dispatched.state[key])
    before = direct.state
    with pytest.raises(ValueError, match="NaN or inf"):
        direct.step(np.full((2, model.features), np.nan, np.float32), streams=np.array([4, 1]))
    for key, value in direct.state.items():
        np.testing.assert_array_equal(value, before[key])


def test_a_step_by_index_refused_for_its_rows_leaves_no_trace(mixed):
    """Rows are checked in compiled code with a scratch mark per stream (edge_lstm/runtime/rows.py): a repeat or an
    index out of range is refused, and the same rows given rightly afterwards step as in a fresh bank."""
    bank, fresh = (edge_lstm.load(mixed, "numba-f32").streams(4) for _ in range(2))
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    with pytest.raises(ValueError, match="at most once"):
        bank.step(x, np.array([2, 0, 2]))
    with pytest.raises(IndexError, match=r"out of range for a bank of 4 streams: \[4\]"):
        bank.step(x, np.array([1, 4, 0]))
    with pytest.raises(IndexError, match=r"\[-1\]"):
        bank.step(x, [-1, 0, 1])
    np.testing.assert_array_equal(bank.step(x, np.array([2, 0, 1])), fresh.step(x, np.array([2, 0, 1])))
    np.testing.assert_array_equal(bank.step(x.astype(np.float64), [3, 1, 0]),
                                  fresh.step(x, np.array([3, 1, 0])))
    assert not bank._marks.any()


@pytest.mark.parametrize("backend", ["numba-f32", "numba-int8"])
def test_every_stream_stepped_through_the_compiled_code_as_through_the_dispatcher(forecaster, backend):
    """A step of every stream calls the kernel's machine code directly once it is known (CompiledStep.all, no
    type resolution): the same outputs and states as by rows through Numba's dispatcher, read-only input too."""
    model = edge_lstm.load(forecaster, backend)
    direct, dispatched = model.streams(5), model.streams(5)
    xs = np.random.default_rng(2).normal(size=(40, 5, model.features)).astype(np.float32)
    for t, x in enumerate(xs):
        x.setflags(write=bool(t % 2))
        given = x if t % 3 else np.asfortranarray(np.repeat(x, 2, axis=1))[:, ::2]  # not C-contiguous: copied first
        np.testing.assert_array_equal(direct.step(given), dispatched.step(x, streams=np.arange(5)))
    assert direct._kernel._step._entry is not None, "the direct path was never taken"
    for key, value in direct.state.items():
        np.testing.assert_array_equal(value, dispatched.state[key])
    before = direct.state
    with pytest.raises(ValueError, match="NaN or inf"):
        direct.step(np.full((5, model.features), np.nan, np.float32))
    for key, value in direct.state.items():
        np.testing.assert_array_equal(value, before[key])


def test_state_setter_validates(mixed):
    bank = edge_lstm.load(mixed).streams(2)
    state = bank.state
    with pytest.raises(KeyError, match="missing"):
        bank.state = {k: v for k, v in state.items() if k != "rnn/h"}
    with pytest.raises(ValueError, match=r"'rnn/h' must have shape \(2, 4\)"):
        bank.state = {**state, "rnn/h": np.zeros((3, 4))}
    with pytest.raises(ValueError, match="NaN"):
        bank.state = {**state, "rnn/h": np.full((2, 4), np.inf)}


def test_run_shapes_and_single_feature_convenience():
    bundle = random_bundle(lstm_model(features=1, units=(8,), outputs=2))
    model = edge_lstm.load(bundle, "numba-f32")
    series = np.linspace(-1, 1, 30)
    assert model.run(series).shape == (30, 2)
    assert model.run(series[:, None]).shape == (30, 2)
    assert model.run(np.stack([series, series])[:, :, None]).shape == (2, 30, 2)
    np.testing.assert_array_equal(model.streams(4).step(np.zeros(4)), model.streams(4).step(np.zeros((4, 1))))
    with pytest.raises(ValueError, match="run expects"):
        model.run(np.zeros((1, 2, 3, 1)))


def test_large_bank_advances_without_per_stream_python():
    bundle = random_bundle(lstm_model(features=1, units=(8,), outputs=1))
    model = edge_lstm.load(bundle, "numba-f32")
    bank = model.streams(100_000)
    x = np.random.default_rng(0).normal(size=(100_000, 1)).astype(np.float32)
    y = bank.step(x)
    ref = edge_lstm.load(bundle, "numpy").streams(100_000).step(x)
    np.testing.assert_allclose(y, ref, atol=1e-5)


def test_unknown_backend_is_named(mixed):
    with pytest.raises(edge_lstm.BackendUnavailableError, match=r"unknown backend 'tpu'.*numba-f32"):
        edge_lstm.load(mixed, "tpu")


def test_runtime_never_imports_tensorflow(tmp_path):
    """Load and run a bundle with TensorFlow and Keras made unimportable."""
    from tests.support.bundles import write_random_bundle

    path = write_random_bundle(tmp_path / "b")
    script = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import numpy as np, edge_lstm
        for mod in pkgutil.walk_packages(edge_lstm.__path__, "edge_lstm."):
            if mod.name != "edge_lstm.__main__":
                importlib.import_module(mod.name)
        for backend in ("numpy", "numba-f32"):
            model = edge_lstm.load({str(path)!r}, backend)
            print(model.run(np.zeros((4, 2))).shape)
        assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(4,", "3)", "(4,", "3)"]


def test_manifest_model_section_is_self_describing(tmp_path):
    from tests.support.bundles import write_random_bundle

    path = write_random_bundle(tmp_path / "b", MIXED_MODEL)
    manifest = json.loads((path / "manifest.json").read_text())
    assert [layer["type"] for layer in manifest["model"]["layers"]][:3] == ["lstm", "affine", "gru"]
    assert manifest["files"]["weights.npz"]["bytes"] == (path / "weights.npz").stat().st_size
