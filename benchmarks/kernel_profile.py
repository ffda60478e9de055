"""Where a compiled kernel's time goes: ``perf`` samples of a bank stepping N streams, each sample attributed to the
Numba function (or the runtime's reference counting) whose code holds it.

perf sees Numba's JIT code as anonymous memory. The child process here compiles the kernel afresh (its own Numba
cache folder, so every helper is its own library with a known address), writes each compiled function's address,
then steps the bank while ``perf record`` samples it; samples are attributed to the nearest function start below
them. Needs Linux ``perf``.

    python benchmarks/kernel_profile.py BUNDLE [--backend numba-int8] [--streams 1000] [--seconds 8]
"""

from __future__ import annotations

import argparse
import bisect
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KERNEL_MODULES = ("numba_int8", "numba_f32", "microkernel", "numba_activations", "lstm_cell")


def child(bundle: str, backend: str, streams: int, seconds: float, workdir: Path) -> None:
    """Step the bank; write ``map.txt`` (address, name) and ``ready`` once compiled; run ``seconds`` more."""
    import importlib

    import numpy as np
    from numba.core.runtime import nrt

    import edge_lstm

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    bank = edge_lstm.load(bundle, backend).streams(streams)
    x = np.random.default_rng(0).normal(0, 1, (streams, bank.model.features)).astype(np.float32)
    bank.step(x)
    lines = []
    for name in KERNEL_MODULES:
        try:
            module = importlib.import_module(f"edge_lstm.runtime.kernels.{name}")
        except ImportError:  # an older tree
            continue
        for attr, fn in vars(module).items():
            for cres in getattr(fn, "overloads", {}).values():
                address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
                if address:
                    lines.append(f"{address:x} {attr}")
    for symbol in ("NRT_incref", "NRT_decref"):
        address = nrt.rtsys.library.get_pointer_to_function(symbol)
        if address:
            lines.append(f"{address:x} reference counts (Numba's runtime)")
    (workdir / "map.txt").write_text("\n".join(lines))
    (workdir / "ready").touch()
    end = time.perf_counter() + seconds + 2.0
    while time.perf_counter() < end:
        bank.step(x)


def attribute(workdir: Path, samples: list[tuple[int, str]]) -> collections.Counter:
    starts: dict[int, str] = {}
    for line in (workdir / "map.txt").read_text().splitlines():
        address, name = line.split(" ", 1)
        starts.setdefault(int(address, 16), name)
    order = sorted(starts)
    counts: collections.Counter = collections.Counter()
    for ip, symbol in samples:
        i = bisect.bisect_right(order, ip) - 1
        counts[starts[order[i]] if i >= 0 and ip - order[i] < 0x10000 else symbol or "other"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--backend", default="numba-int8")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.bundle, args.backend, args.streams, args.seconds, args.child)
        return
    if not shutil.which("perf"):
        sys.exit("kernel_profile needs Linux perf (Debian: linux-perf)")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "NUMBA_CACHE_DIR": str(workdir / "numba-cache")}
        proc = subprocess.Popen([sys.executable, __file__, args.bundle, "--backend", args.backend, "--streams",
                                 str(args.streams), "--seconds", str(args.seconds), "--child", str(workdir)], env=env)
        while not (workdir / "ready").exists():
            if proc.poll() is not None:
                sys.exit("the profiled process ended before it was ready")
            time.sleep(0.2)
        data = workdir / "perf.data"
        subprocess.run(["perf", "record", "-q", "-F", "4000", "-p", str(proc.pid), "-o", str(data), "--", "sleep",
                        str(args.seconds)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc.wait()
        script = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"], capture_output=True, text=True,
                                check=True).stdout
        samples = []
        for line in script.splitlines():
            parts = line.split(None, 1)
            if parts:
                samples.append((int(parts[0], 16), parts[1].strip() if len(parts) > 1 else ""))
        counts = attribute(workdir, samples)
    total = sum(counts.values()) or 1
    print(f"{args.backend}, {args.streams:,} streams: {total:,} samples")
    for name, n in counts.most_common(15):
        print(f"{100 * n / total:6.1f}%  {name}")


if __name__ == "__main__":
    main()
