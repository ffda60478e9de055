"""The quick start: convert the seed model and stream a window through it with the CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")


def edge_lstm_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_lstm", *args], capture_output=True, text=True)


def test_convert_then_run_matches_keras(converted, tmp_path):
    keras_model, windows, bundle_path, _ = converted["seed"]
    model_file = bundle_path.parent / "seed.keras"
    np.save(tmp_path / "calibration.npy", windows[:32])
    result = edge_lstm_cli("convert", str(model_file), "--calibration", str(tmp_path / "calibration.npy"),
                           "--out", str(tmp_path / "bundle"), "--feature-names", "vibration_rms", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "numba-f32" in result.stdout and "yes" in result.stdout
    assert json.loads((tmp_path / "bundle" / "manifest.json").read_text())["model"]["input"]["feature_names"] == [
        "vibration_rms"]

    np.save(tmp_path / "window.npy", windows[-1])
    for backend in ("numpy", "numba-f32"):
        run = edge_lstm_cli("run", str(tmp_path / "bundle"), "--backend", backend, "--input",
                            str(tmp_path / "window.npy"), "--output", str(tmp_path / "y.npy"))
        assert run.returncode == 0, run.stderr
        y = np.load(tmp_path / "y.npy")
        assert y.shape == (50, 1)
        expected = keras_model.predict(windows[-1:], verbose=0)[0]
        np.testing.assert_allclose(y[-1], expected, atol=1e-4 * max(1.0, float(np.abs(expected).max())))

    inspect = edge_lstm_cli("inspect", str(tmp_path / "bundle"))
    assert inspect.returncode == 0 and "verified" in inspect.stdout and "parity" in inspect.stdout


def test_run_reports_bad_input_shape(converted, tmp_path):
    *_, bundle_path, _ = converted["seed"]
    np.save(tmp_path / "bad.npy", np.zeros((50, 3), np.float32))
    run = edge_lstm_cli("run", str(bundle_path), "--input", str(tmp_path / "bad.npy"), "--output",
                        str(tmp_path / "y.npy"))
    assert run.returncode == 2
    assert "bad.npy" in run.stderr and "(1, 50, 1)" in run.stderr and "Traceback" not in run.stderr


def test_version_and_help():
    version = edge_lstm_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("edge-lstm ")
    for command in ("convert", "run", "inspect"):
        helped = edge_lstm_cli(command, "--help")
        assert helped.returncode == 0 and "usage: edge-lstm " + command in helped.stdout


def test_convert_checks_its_inputs_and_out_before_the_work(tmp_path):
    """(It loaded TensorFlow and complained about the calibration for a missing model, and refused an existing --out
    only after 12 s of work, in the Python API's words.)"""
    missing = edge_lstm_cli("convert", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "b"))
    assert missing.returncode == 2 and "missing.keras: no such model file" in missing.stderr
    (tmp_path / "m.keras").write_bytes(b"")
    (tmp_path / "b").mkdir()
    taken = edge_lstm_cli("convert", str(tmp_path / "m.keras"), "--out", str(tmp_path / "b"))
    assert taken.returncode == 2 and "already exists: pass --force to replace it" in taken.stderr
    assert "overwrite=True" not in taken.stderr
