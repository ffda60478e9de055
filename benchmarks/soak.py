"""Soak: the daemon for a given time under steady traffic mixed with malformed payloads; its RSS over time.

    python benchmarks/soak.py [--minutes 60] [--rate 1000] [--streams 100] [--bad-every 50] [--out build/soak]

Starts a private Mosquitto and ``edge-lstm serve`` (the demo bundle unless --bundle), publishes ``rate``
samples/s over ``streams`` streams at QoS 1 (every ``bad-every``-th message one of a set of malformed
payloads: deep nesting, huge integers, invalid UTF-8, NaN, wrong types, oversize), and records the
daemon's RSS and stats every ``--every`` seconds. Writes ``soak.json`` (the samples over time and a
summary) and prints the summary: RSS after the warm-up, at the end, the growth between them.
Fails (exit 1) if the daemon died, or did not step and reject what it was sent.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_lstm.demo.brokers import Mosquitto
from edge_lstm.serve.broker import no_delay

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0
BAD = [b"[" * 1000 + b"]" * 1000, b'{"value": ' + b"[" * 900 + b"]" * 900 + b"}", b'{"value": ' + b"9" * 4301 + b"}",
       b'{"ts": ' + b"1" * 5000 + b', "value": 1}', b"\xff\xfe\x00", b'{"ts": 1, "value": NaN}', b'{"value": "high"}',
       b'{"values": {"a": 1}}', b"", b"x" * 70_000, b'{"ts": "0001-01-01T00:00:00+01:00", "value": 1}',
       b'[{"ts": 1, "value": 1}, {"value": 2}]', b"1,2,3,4", b'{"ts": 1e400, "value": 1}', b"null", b"true"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def client(port: int, name: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"soak-{name}-{time.time_ns()}", protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.on_socket_open = no_delay
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def publish(port: int, rate: int, streams: int, bad_every: int, stop: threading.Event, sent: dict) -> None:
    """``rate`` messages a second in ticks of 0.1 s, each stream's ts advancing one second a round."""
    pub, per_tick, k = client(port, "pub"), max(1, rate // 10), 0
    next_tick = time.monotonic()
    while not stop.is_set():
        for _ in range(per_tick):
            stream, step = k % streams, k // streams
            if bad_every and k % bad_every == bad_every - 1:
                pub.publish(f"sensors/s{stream}/v", BAD[(k // bad_every) % len(BAD)], qos=1)
                sent["bad"] += 1
            else:
                value = math.sin(step / 30.0 + stream) * 2.0 + 0.05 * ((step * 7919) % 13)
                pub.publish(f"sensors/s{stream}/v", json.dumps({"ts": T0 + step, "value": round(value, 4)}), qos=1)
                sent["good"] += 1
            k += 1
        next_tick += 0.1
        time.sleep(max(0.0, next_tick - time.monotonic()))
    pub.loop_stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(ROOT / "edge_lstm" / "demo" / "bundle"))
    parser.add_argument("--backend", default="numba-int8")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--warmup-minutes", type=float, default=5.0, help="RSS growth is measured after this")
    parser.add_argument("--rate", type=int, default=1000, help="messages per second")
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--bad-every", type=int, default=50, help="every Nth message is malformed (0: none)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between RSS readings")
    parser.add_argument("--out", default=str(ROOT / "build" / "soak"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(out / "broker", persistence=False).start()
    stats: dict = {}
    watcher = client(broker.port, "watch")
    watcher.on_message = lambda c, u, m: stats.update(json.loads(m.payload))
    watcher.subscribe("edge-lstm/soak/stats", qos=0)
    log = (out / "daemon.log").open("wb")
    daemon = subprocess.Popen([sys.executable, "-m", "edge_lstm", "serve", "--bundle", args.bundle, "--backend",
                               args.backend, "--broker", broker.url, "--node-id", "soak", "--checkpoint",
                               str(out / "state.npz"), "--set", "stats.every_s=5"], stdout=log,
                              stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    stop, sent = threading.Event(), {"good": 0, "bad": 0}
    readings = []
    try:
        deadline = time.monotonic() + 120
        while not stats and time.monotonic() < deadline:
            time.sleep(0.2)
        if not stats:
            print("the daemon did not come up:", (out / "daemon.log").read_text()[-2000:])
            return 1
        sender = threading.Thread(target=publish, args=(broker.port, args.rate, args.streams, args.bad_every, stop,
                                                        sent), daemon=True)
        start = time.monotonic()
        sender.start()
        while time.monotonic() - start < args.minutes * 60 and daemon.poll() is None:
            minute = round((time.monotonic() - start) / 60, 2)
            readings.append({"minute": minute, "rss_mb": round(rss_mb(daemon.pid), 1),
                             "samples": stats.get("samples", 0), "errors": stats.get("errors", 0),
                             "queue_depth": stats.get("queue_depth", 0)})
            print(json.dumps(readings[-1]), flush=True)
            time.sleep(args.every)
        stop.set()
        sender.join(10)
        time.sleep(6)
        alive = daemon.poll() is None
        after = [r for r in readings if r["minute"] >= args.warmup_minutes] or readings
        summary = {"minutes": args.minutes, "rate": args.rate, "streams": args.streams, "bad_every": args.bad_every,
                   "backend": args.backend, "sent": sent, "alive": alive, "samples": stats.get("samples", 0),
                   "errors": stats.get("errors", 0), "internal_errors": stats.get("internal_errors", 0),
                   "rss_after_warmup_mb": after[0]["rss_mb"], "rss_end_mb": readings[-1]["rss_mb"],
                   "rss_max_mb": max(r["rss_mb"] for r in readings),
                   "rss_growth_after_warmup_mb": round(readings[-1]["rss_mb"] - after[0]["rss_mb"], 1)}
        (out / "soak.json").write_text(json.dumps({"summary": summary, "readings": readings}, indent=1))
        print(json.dumps(summary, indent=1))
        ok = alive and summary["errors"] >= sent["bad"] * 0.9 and summary["samples"] > 0
        return 0 if ok else 1
    finally:
        stop.set()
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
        watcher.loop_stop()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
