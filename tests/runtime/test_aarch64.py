"""The compiled kernels on aarch64 (a Raspberry Pi 5's Cortex-A76, emulated by qemu-user): exact where they are
float, and the int8 kernel's integer products on NEON's widening multiply-adds. Runs where ``make test-aarch64``
built an aarch64 Python (tools/aarch64_env.sh); skipped elsewhere, with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edge_lstm

ROOT = Path(__file__).resolve().parents[2]
ENV = Path(os.environ.get("EDGE_LSTM_AARCH64", ROOT / "build" / "aarch64"))
BUNDLE = ROOT / "edge_lstm" / "demo" / "bundle"

EMULATED = """
import json, re, sys
import numpy as np
import edge_lstm
from edge_lstm.runtime.kernels import microkernel
x = np.load(sys.argv[1])
out = {b: edge_lstm.load(sys.argv[2], b).run(x).tolist() for b in ("numpy", "numba-f32", "numba-int8")}
asm = "".join(microkernel.int_matmul.inspect_asm().values())
out["ops"] = {op: len(re.findall(rf"\\b{op}\\b", asm)) for op in ("smlal", "smlal2", "sdot", "vpmaddwd")}
out["int8_path"] = microkernel.int8_path()
print(json.dumps(out))
"""


def _emulator() -> list[str]:
    qemu = shutil.which("qemu-aarch64-static")
    python = ENV / "root" / "usr" / "bin" / "python3.11"
    if qemu is None or not python.exists() or not (ENV / "site" / "numba").is_dir():
        pytest.skip(f"no aarch64 Python under qemu at {ENV}: `make test-aarch64` builds one (tools/aarch64_env.sh)")
    return [qemu, "-cpu", "max", "-L", str(ENV / "root"), str(python)]


def _int8_here_with_float_cells(x_path: Path, tmp_path: Path) -> np.ndarray:
    """This machine's numba-int8 output with its LSTM cell in float32, as aarch64 computes it: on a CPU with
    AVX512-FP16 the kernel's cell runs in half precision, so it is run again in a process whose Numba targets this
    CPU without that feature (and caches apart)."""
    from numba.core.registry import cpu_target

    from edge_lstm.runtime.kernels import lstm_cell

    if not lstm_cell.HALF_GATES:
        return edge_lstm.load(BUNDLE, "numba-int8").run(np.load(x_path))
    features = cpu_target.target_context.codegen()._tm_features.replace("+avx512fp16", "-avx512fp16")
    code = ("import sys, numpy as np, edge_lstm; from edge_lstm.runtime.kernels import lstm_cell; "
            "assert not lstm_cell.HALF_GATES; "
            "np.save(sys.argv[3], edge_lstm.load(sys.argv[2], 'numba-int8').run(np.load(sys.argv[1])))")
    env = {**os.environ, "NUMBA_CPU_FEATURES": features, "NUMBA_CACHE_DIR": str(tmp_path / "cache-x86")}
    done = subprocess.run([sys.executable, "-c", code, str(x_path), str(BUNDLE), str(tmp_path / "here.npy")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(tmp_path / "here.npy")


def test_kernels_on_aarch64_match_numpy_and_this_machine(tmp_path):
    command = _emulator()
    rng = np.random.default_rng(0)
    model = edge_lstm.load(BUNDLE, "numpy")
    x = (np.cumsum(rng.normal(0, 1, (600, model.features)), axis=0) * 0.1).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ENV / 'site'}", "NUMBA_CPU_NAME": "cortex-a76",
           "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([*command, "-c", EMULATED, str(tmp_path / "x.npy"), str(BUNDLE)], capture_output=True,
                          text=True, env=env, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    arm = json.loads(done.stdout.strip().splitlines()[-1])
    reference = model.run(x)
    spread = float(reference.std())
    here_int8 = _int8_here_with_float_cells(tmp_path / "x.npy", tmp_path)
    # Float kernels: NumPy's answer to float32 rounding, on either machine.
    assert np.abs(np.array(arm["numpy"]) - reference).max() <= 1e-5 * spread
    assert np.abs(np.array(arm["numba-f32"]) - reference).max() <= 1e-5 * spread
    # int8: the same integer products (int32 sums are exact), the float rescale and gates rounding alike.
    assert np.abs(np.array(arm["numba-int8"]) - here_int8).max() <= 1e-3 * spread
    # NEON's widening multiply-adds of int16 activations by int8 weights (no sdot: it takes int8 by int8).
    assert arm["ops"]["smlal"] + arm["ops"]["smlal2"] > 0 and arm["ops"]["vpmaddwd"] == 0, arm["ops"]
    assert "NEON" in arm["int8_path"], arm["int8_path"]
