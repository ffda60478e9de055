"""``edge-lstm bench``: per-sample latency and stream throughput, per backend, side by side.

Everything is measured in one process, pinned to one core, so ratios between rows are fair.
Baselines that users would otherwise pick are measured on the same weights where installed:
PyTorch's stateful ``nn.LSTM`` stepped one sample at a time, and LiteRT and Keras re-running a
sliding window per sample (``--keras MODEL``).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np

import edge_lstm
from edge_lstm.runtime.spec import ModelSpec
from edge_lstm.runtime.timing import NOISY, Row

STREAM_COUNTS = (1, 100, 1000, 10000)


def macs_per_step(spec: ModelSpec) -> int:
    """Multiply-accumulates of one stream-step (matrix products only)."""
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}
    total = 0
    for layer in spec.layers:
        if layer.kind == "dense":
            total += layer.input_dim * layer.units
        elif layer.kind in gates:
            total += gates[layer.kind] * layer.units * (layer.input_dim + layer.units)
    return total


def bench_backend(path: str, backend: str, counts: tuple[int, ...], budget_s: float) -> Row:
    row = Row(name=backend, kind="edge-lstm")
    try:
        t0 = time.perf_counter()
        model = edge_lstm.load(path, backend)
        model.streams(1).step(np.zeros((1, model.features), np.float32))
        row.note = f"load + first step {time.perf_counter() - t0:.2f} s"
    except edge_lstm.EdgeLSTMError as exc:
        row.note = f"unavailable: {exc}"
        return row
    rng = np.random.default_rng(0)
    for n in counts:
        bank = model.streams(n)
        x = rng.normal(size=(n, model.features)).astype(np.float32)
        row.time(n, lambda bank=bank, x=x: bank.step(x), budget_s)
    return row


def bench_torch(spec: ModelSpec, weights: dict[str, np.ndarray], counts: tuple[int, ...], budget_s: float,
                device: str = "cpu") -> Row:
    """PyTorch stateful nn.LSTM + Linear layers with the bundle's weights, one sample per call.

    On ``device="cuda"`` each call, like the ``cuda`` backend's, copies the inputs to the GPU and the outputs back.
    """
    suffix = "" if device == "cpu" else f", {device}"
    row = Row(name=f"pytorch nn.LSTM (stateful step{suffix})", kind="baseline")
    try:
        import torch
    except ImportError:
        row.note = "not installed"
        return row
    if device != "cpu" and not torch.cuda.is_available():
        row.note = f"torch sees no {device} device"
        return row
    if any(layer.kind not in ("lstm", "dense") for layer in spec.layers) or any(
        layer.activation not in ("tanh", "relu", "linear") for layer in spec.layers
    ):
        row.note = "only LSTM/Dense stacks are mirrored in PyTorch"
        return row
    torch.set_num_threads(1)
    modules: list[Any] = []
    for layer in spec.layers:
        k = torch.from_numpy(weights[layer.weight_key("kernel")].T.copy())
        b = torch.from_numpy(weights[layer.weight_key("bias")].copy())
        if layer.kind == "lstm":
            m = torch.nn.LSTM(layer.input_dim, layer.units, batch_first=True)
            m.weight_ih_l0.data, m.bias_ih_l0.data = k, b
            m.weight_hh_l0.data = torch.from_numpy(weights[layer.weight_key("recurrent_kernel")].T.copy())
            m.bias_hh_l0.data.zero_()
        else:
            m = torch.nn.Linear(layer.input_dim, layer.units)
            m.weight.data, m.bias.data = k, b
        modules.append((layer, m.to(device)))

    def make_step(n: int) -> Callable[[], Any]:
        states = {i: None for i, (layer, _) in enumerate(modules) if layer.kind == "lstm"}
        x = torch.randn(n, 1, spec.features)

        @torch.inference_mode()
        def step() -> Any:
            v = x.to(device)
            for i, (layer, m) in enumerate(modules):
                if layer.kind == "lstm":
                    v, states[i] = m(v, states[i])
                else:
                    v = m(v)
                    v = torch.relu(v) if layer.activation == "relu" else v
            return v.cpu()

        return step

    for n in counts:
        row.time(n, make_step(n), budget_s)
    row.note = f"torch {torch.__version__}, " + ("1 thread" if device == "cpu" else torch.cuda.get_device_name())
    return row


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        cpu = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
        mhz = float(next(line.split(":", 1)[1] for line in info.splitlines() if line.startswith("cpu MHz")))
        flags = next(line for line in info.splitlines() if line.startswith("flags"))
    except (OSError, StopIteration, ValueError):
        mhz, flags = 0.0, ""
    simd = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "neon" if "aarch64" in cpu else "?"
    from edge_lstm.runtime.kernels.lstm_cell import gate_path
    from edge_lstm.runtime.kernels.microkernel import int8_path, target_features

    return {"cpu": cpu, "mhz": mhz, "simd": simd, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "features": target_features(), "int8_path": int8_path(), "gate_path": gate_path()}


def roofline(spec: ModelSpec, info: dict[str, Any]) -> dict[str, float]:
    """Stream-steps/s one core could reach if it did nothing but the matrix products at peak.

    AVX2 (two 256-bit FMA pipes): 16 float32 MAC per cycle; ``vpmaddwd`` (two pipes, 16 int16 MAC
    each): 32 integer MAC per cycle.
    """
    hz = info.get("mhz", 0.0) * 1e6
    macs = macs_per_step(spec)
    lanes = {"avx512": (32, 64), "avx2": (16, 32)}.get(info.get("simd", ""), (8, 16))
    return {"macs_per_step": macs, "f32_steps_per_s": hz * lanes[0] / macs if macs else 0.0,
            "int8_steps_per_s": hz * lanes[1] / macs if macs else 0.0}


def run_bench(path: str, backends: list[str], counts: tuple[int, ...] = STREAM_COUNTS, keras_path: str | None = None,
              budget_s: float = 0.25, core: int | None = 0) -> dict[str, Any]:
    """Measure every backend and baseline; returns a JSON-ready dict."""
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    bundle = edge_lstm.read_bundle(path)
    info = machine()
    rows = [bench_backend(path, b, counts, budget_s) for b in backends]
    rows.append(bench_torch(bundle.spec, bundle.weights, counts, budget_s))
    if "cuda" in backends:
        rows.append(bench_torch(bundle.spec, bundle.weights, counts, budget_s, device="cuda"))
    if keras_path:
        from converter.baselines import bench_windowed  # needs TensorFlow: the convert extra

        rows.extend(bench_windowed(keras_path, bundle.spec.window or 50, bundle.spec.features, budget_s))
    return {"machine": info, "pinned_core": core, "roofline": roofline(bundle.spec, info),
            "model": [f"{layer.kind}({layer.units})" for layer in bundle.spec.layers],
            "rows": [asdict(r) for r in rows]}


def markdown(result: dict[str, Any]) -> str:
    """The result as a Markdown table."""
    counts = sorted({int(n) for r in result["rows"] for n in r["steps_per_s"]})
    m, roof = result["machine"], result["roofline"]
    lines = [
        f"Model: {' → '.join(result['model'])} ({roof['macs_per_step']:,} MACs per stream-step). "
        f"Machine: {m['cpu']}, {m['simd']}, {m['mhz']:.0f} MHz nominal, pinned to core {result['pinned_core']}; "
        f"Python {m['python']}, NumPy {m['numpy']}; {m['date']}.",
        "",
        f"Compiled for: {', '.join(m.get('features', [])) or 'no vector features reported'}; numba-int8 "
        f"multiply-adds: {m.get('int8_path', '?')}; its LSTM activations: {m.get('gate_path', '?')}.",
        "",
        "| backend | µs per sample (1 stream) | " + " | ".join(f"steps/s, {n:,} streams" for n in counts)
        + " | note |",
        "|---|---:|" + "---:|" * len(counts) + "---|",
    ]
    noisy = False
    for r in result["rows"]:
        spread = {int(n): s for n, s in r.get("spread", {}).items()}
        flag = {n: "*" if spread.get(n, 0.0) > NOISY else "" for n in counts}
        noisy |= any(flag.values())
        us = f"{r['us_per_sample']:.1f}{flag.get(1, '')}" if r["us_per_sample"] else "–"
        cells = []
        for n in counts:
            v = r["steps_per_s"].get(n) or r["steps_per_s"].get(str(n))
            cells.append(f"{v:,.0f}{flag[n]}" if v else "–")
        lines.append(f"| {r['name']} | {us} | " + " | ".join(cells) + f" | {r['note']} |")
    if noisy:
        lines += ["", f"\\* noisy: its rounds spread over {NOISY:.0%} of their median (another process on the core?): "
                  "run again, or --seconds longer."]
    lines += ["", f"Roofline for one core (matrix products at peak, nothing else): "
              f"{roof['f32_steps_per_s']:,.0f} float32 stream-steps/s, "
              f"{roof['int8_steps_per_s']:,.0f} int8 stream-steps/s."]
    return "\n".join(lines) + "\n"
