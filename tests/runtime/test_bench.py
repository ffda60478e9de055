"""`edge-lstm bench` runs end to end and reports what it measured (timings are not asserted)."""

import json
import subprocess
import sys

from edge_lstm.runtime.bench import macs_per_step
from edge_lstm.runtime.spec import parse_model
from tests.support.bundles import lstm_model, write_random_bundle


def test_macs_per_step_of_the_seed_model():
    seed = lstm_model(features=1, units=(64, 32), outputs=1)
    seed["layers"].insert(2, {"type": "dense", "name": "hidden", "input_dim": 32, "units": 16})
    seed["layers"][3]["input_dim"] = 16
    assert macs_per_step(parse_model(seed)) == 4 * 64 * 65 + 4 * 32 * 96 + 32 * 16 + 16


def test_bench_json_lists_each_backend(tmp_path):
    path = write_random_bundle(tmp_path / "b", lstm_model(features=2, units=(8,), outputs=1))
    result = subprocess.run(
        [sys.executable, "-m", "edge_lstm", "bench", str(path), "--backends", "numpy,numba-f32,numba-int8",
         "--streams", "1,10", "--seconds", "0.02", "--json"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["rows"]}
    assert rows["numpy"]["us_per_sample"] > 0 and set(rows["numba-f32"]["steps_per_s"]) == {"1", "10"}
    assert rows["numba-int8"]["note"].startswith("unavailable"), "a float-only bundle has no int8 weights"
    assert report["roofline"]["macs_per_step"] == 4 * 8 * 10 + 8


def test_an_unknown_backend_is_a_usage_error_naming_the_known_ones(tmp_path):
    path = write_random_bundle(tmp_path / "b", lstm_model(features=1, units=(4,), outputs=1))
    result = subprocess.run([sys.executable, "-m", "edge_lstm", "bench", str(path), "--backends", "numpy,foo"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "--backends: unknown 'foo' (known: " in result.stderr
    assert "numba-int8" in result.stderr and not result.stdout


def test_noisy_measurements_are_flagged():
    from edge_lstm.runtime.bench import markdown
    from edge_lstm.runtime.timing import Row

    row = Row("numba-f32", "edge-lstm")
    calls = iter([1.0] * 100)
    row.time(1, lambda: next(calls, None), 0.01)  # (a steady call: some spread from the clock, well under 20%)
    row.spread[100], row.steps_per_s[100] = 0.5, 1e6  # a measurement whose rounds spread 50%
    result = {"machine": {"cpu": "x", "simd": "y", "mhz": 1, "python": "3", "numpy": "2", "date": "d"},
              "pinned_core": 0, "roofline": {"macs_per_step": 1, "f32_steps_per_s": 1, "int8_steps_per_s": 1},
              "model": ["lstm(4)"], "rows": [row.__dict__]}
    table = markdown(result)
    assert "| 1,000,000* |" in table and "* noisy: its rounds spread over 20%" in table


def test_the_bench_says_what_the_kernels_were_compiled_for():
    """#23 item 3: the ISA features Numba targets here and the instructions numba-int8's multiply-adds become."""
    from edge_lstm.runtime.bench import machine, markdown

    info = machine()
    features = set(info["features"])
    if "avx512bw" in features:
        assert info["int8_path"].startswith("avx512bw vpmaddwd")
        assert ("vpdpwssd" in info["int8_path"]) == ("avx512vnni" in features)
    elif "avx2" in features:
        assert info["int8_path"] == "avx2 vpmaddwd"
    else:
        assert info["int8_path"].startswith("generic")
    result = {"machine": info, "pinned_core": 0, "model": ["lstm(4)"], "rows": [],
              "roofline": {"macs_per_step": 1, "f32_steps_per_s": 1, "int8_steps_per_s": 1}}
    assert f"numba-int8 multiply-adds: {info['int8_path']}" in markdown(result)
    assert ("half precision" in info["gate_path"]) == ("avx512fp16" in features)
    assert f"its LSTM activations: {info['gate_path']}" in markdown(result)
