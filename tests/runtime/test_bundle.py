"""Bundle files: written atomically, verified on load, refused clearly when damaged."""

import json
import subprocess
import sys

import numpy as np
import pytest

import edge_lstm
from edge_lstm.errors import BundleError
from edge_lstm.runtime.bundle import write_bundle
from tests.support.bundles import MIXED_MODEL, random_weights, write_random_bundle


@pytest.fixture
def bundle_dir(tmp_path):
    return write_random_bundle(tmp_path / "bundle")


def test_round_trip_loads_the_same_weights(bundle_dir):
    loaded = edge_lstm.read_bundle(bundle_dir)
    expected = random_weights(MIXED_MODEL)
    assert loaded.weights.keys() == expected.keys()
    for key, arr in expected.items():
        np.testing.assert_array_equal(loaded.weights[key], arr)
    assert loaded.manifest["format_version"] == "1.0"


def test_flipped_byte_is_caught_by_hash(bundle_dir):
    path = bundle_dir / "weights.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"weights\.npz: sha256 does not match"):
        edge_lstm.load(bundle_dir)


def test_truncated_weights_are_caught(bundle_dir):
    path = bundle_dir / "weights.npz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match="truncated"):
        edge_lstm.load(bundle_dir)


def test_truncated_weights_without_verification_still_fail_clearly(bundle_dir):
    path = bundle_dir / "weights.npz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match=r"cannot be read as \.npz"):
        edge_lstm.load(bundle_dir, verify=False)


def test_missing_weights_file(bundle_dir):
    (bundle_dir / "weights.npz").unlink()
    with pytest.raises(BundleError, match=r"weights\.npz: missing"):
        edge_lstm.load(bundle_dir)


def test_manifest_hash_mismatch(bundle_dir):
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    manifest["files"]["weights.npz"]["sha256"] = "0" * 64
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="sha256 does not match"):
        edge_lstm.load(bundle_dir)


def test_truncated_manifest(bundle_dir):
    text = (bundle_dir / "manifest.json").read_text()
    (bundle_dir / "manifest.json").write_text(text[: len(text) // 2])
    with pytest.raises(BundleError, match="not valid JSON"):
        edge_lstm.load(bundle_dir)


def test_newer_major_format_is_refused_with_advice(bundle_dir):
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    manifest["format_version"] = "2.0"
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"'2\.0' is not supported.*convert the model again"):
        edge_lstm.load(bundle_dir)


def test_newer_minor_format_with_unknown_keys_loads(bundle_dir):
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    manifest["format_version"] = "1.7"
    manifest["something_new"] = {"added": "later"}
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    assert edge_lstm.load(bundle_dir).features == 2


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="no such bundle directory"):
        edge_lstm.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        edge_lstm.load(tmp_path / "empty")


def test_weights_of_the_wrong_shape_are_named(tmp_path):
    weights = random_weights(MIXED_MODEL)
    weights["layers.0.kernel"] = weights["layers.0.kernel"][:, :4]
    write_bundle(tmp_path / "b", {"model": MIXED_MODEL}, weights)
    with pytest.raises(BundleError, match=r"'layers\.0\.kernel' has shape \(2, 4\).*'lstm_a' needs \(2, 32\)"):
        edge_lstm.load(tmp_path / "b")


def test_nan_weights_are_refused(tmp_path):
    weights = random_weights(MIXED_MODEL)
    weights["layers.6.bias"][1] = np.nan
    write_bundle(tmp_path / "b", {"model": MIXED_MODEL}, weights)
    with pytest.raises(BundleError, match=r"'layers\.6\.bias' contains NaN"):
        edge_lstm.load(tmp_path / "b")


def test_inconsistent_layer_chain_is_refused(tmp_path):
    model = json.loads(json.dumps(MIXED_MODEL))
    model["layers"][2]["input_dim"] = 7
    with pytest.raises(BundleError, match=r"layers\[2\] expects 7 inputs but receives 8"):
        write_bundle(tmp_path / "b", {"model": model}, random_weights(MIXED_MODEL))
        edge_lstm.load(tmp_path / "b")


def test_write_refuses_to_overwrite_unless_asked(bundle_dir):
    with pytest.raises(BundleError, match="already exists"):
        write_random_bundle(bundle_dir)
    write_bundle(bundle_dir, {"model": MIXED_MODEL}, random_weights(MIXED_MODEL, seed=1), overwrite=True)
    reloaded = edge_lstm.read_bundle(bundle_dir).weights["layers.0.kernel"]
    np.testing.assert_array_equal(reloaded, random_weights(MIXED_MODEL, seed=1)["layers.0.kernel"])
    assert not list(bundle_dir.parent.glob(".bundle.*")), "temporary build directories are cleaned up"


def test_inspect_exit_codes(bundle_dir):
    cmd = [sys.executable, "-m", "edge_lstm", "inspect", str(bundle_dir)]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "verified" in ok.stdout and "lstm_a" in ok.stdout
    path = bundle_dir / "weights.npz"
    path.write_bytes(path.read_bytes()[:-10])
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "weights.npz" in bad.stderr and "truncated" in bad.stderr
    assert "Traceback" not in bad.stderr
