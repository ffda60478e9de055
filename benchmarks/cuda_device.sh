#!/usr/bin/env bash
# The CUDA checks for a machine with an NVIDIA GPU (e.g. the `device` tool), in one run:
# versions, tests/runtime/test_cuda.py on the real GPU, and `edge-lstm bench` of cuda against the CPU
# kernels and PyTorch (CPU and GPU) from 1 to 100,000 streams (BACKENDS overrides the list), and where a cuda
# step's time goes (benchmarks/cuda_step_overhead.py). Results go to $OUT (default /tmp/cuda-out).
#   usage: benchmarks/cuda_device.sh BUNDLE
# PYTHONPATH is kept (after the repository): where numba-cuda fails under the machine's NumPy (0.30.4 under 2.5.2:
# np.row_stack is gone), install a NumPy 2.4 wheel into a folder and name it there first.
set -u
bundle=${1:?usage: benchmarks/cuda_device.sh BUNDLE}
out=${OUT:-/tmp/cuda-out}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} NUMBA_CACHE_DIR=/tmp/edge-lstm-numba-cache PYTHONUNBUFFERED=1 NUMBA_ENABLE_CUDASIM=0
nvidia-smi -L
lscpu | grep -E '^(Model name|CPU family|Model):'
$py -c 'import sys, numpy, numba; print("python", sys.version.split()[0], "numpy", numpy.__version__, "numba", numba.__version__)'
$py -c 'import numba_cuda; print("numba-cuda", numba_cuda.__version__)'
echo "== tests/runtime/test_cuda.py on the GPU"
timeout 240 $py -m pytest -q -p no:cacheprovider -o addopts= -p no:warnings tests/runtime/test_cuda.py 2>&1 | tail -8
echo "== bench"
timeout 420 $py -m edge_lstm bench "$bundle" --backends "${BACKENDS:-cuda,numba-f32,numba-int8}" \
    --streams 1,100,1000,10000,100000 --json >"$out/bench.json"
echo "bench exit $?"
$py - "$out/bench.json" <<'PY'
import json, sys
from edge_lstm.runtime.bench import markdown
print(markdown(json.load(open(sys.argv[1]))))
PY
echo "== where a cuda step's time goes"
timeout 120 $py benchmarks/cuda_step_overhead.py "$bundle" --streams 1,1000,100000 2>&1 | grep -v Warning
