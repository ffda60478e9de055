"""Where the daemon's resident memory is: idle after warm-up, then after bursts of 1, 10 and 1,000 streams.

    python benchmarks/daemon_memory.py BUNDLE [--backend numba-int8] [-- SERVE_ARGS...]

Starts Mosquitto on a free loopback port and ``edge-lstm serve`` in a subprocess, and prints its
RssAnon / RssFile (``/proc/PID/status``) and, when idle, the largest mappings (``/proc/PID/smaps``).
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.daemon_bench import Watcher, throughput
from edge_lstm.demo.brokers import DaemonProcess, Mosquitto


def status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon and RssFile in MB."""
    out = {}
    for line in open(f"/proc/{pid}/status", encoding="ascii"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) // 1024
    return out


def largest_mappings(pid: int, top: int = 8) -> list[tuple[str, float]]:
    """(file or [anon]/[heap], resident MB) of the largest mappings."""
    resident: collections.Counter[str] = collections.Counter()
    name = "[anon]"
    for line in open(f"/proc/{pid}/smaps", encoding="ascii", errors="replace"):
        parts = line.split()
        if parts and "-" in parts[0] and not parts[0].endswith(":"):
            name = parts[5] if len(parts) > 5 else "[anon]"
        elif line.startswith("Rss:"):
            resident[name] += int(parts[1])
    return [(n, kb / 1024) for n, kb in resident.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--backend", default="numba-int8")
    parser.add_argument("serve_args", nargs="*", help="more `edge-lstm serve` arguments (after --)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edge-lstm-memory-"))
    broker = Mosquitto(work / "broker").start()
    daemon = DaemonProcess(["--bundle", args.bundle, "--backend", args.backend, "--broker", broker.url,
                            "--node-id", "memory", "--set", "stats.every_s=0.2", "--quiet", *args.serve_args],
                           work / "daemon.log")
    try:
        watcher = Watcher(broker.port)
        while not watcher.stats:
            time.sleep(0.05)
        time.sleep(1.0)
        pid = daemon.process.pid
        print(f"idle: {status(pid)} MB")
        for name, mb in largest_mappings(pid):
            print(f"  {mb:6.1f} MB  {name}")
        done = 0
        for streams, samples, batch in ((1, 2_000, 100), (1, 500, 1), (10, 20_000, 100), (1000, 200_000, 100)):
            rate = throughput(broker.port, watcher, streams, samples, batch, done)
            done += (samples // streams) * streams
            time.sleep(1.0)
            print(f"after {streams} stream(s) x {samples:,} samples, {batch} a message ({rate:,.0f}/s): "
                  f"{status(pid)} MB")
    finally:
        daemon.stop()
        broker.stop()


if __name__ == "__main__":
    main()
