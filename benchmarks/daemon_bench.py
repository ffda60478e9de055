"""Daemon benchmark: samples/s through a real Mosquitto into events, latency at a fixed rate, RSS.

    python benchmarks/daemon_bench.py BUNDLE [--json] [--echo]

Starts Mosquitto on a free loopback port and ``edge-lstm serve`` in a subprocess, publishes from
this process, and reads the daemon's stats and events back over MQTT. Everything shares this
machine's cores (daemon, broker, publisher, collector), as it would on a gateway.

``--echo`` puts a trivial paho client in the daemon's place (every message answered at once with one
event of its last sample, no model): what this harness, the broker and paho cost on their own, the
floor under the daemon's numbers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_lstm.demo.brokers import DaemonProcess, Mosquitto, publisher
from edge_lstm.serve.broker import no_delay

T0 = 1_700_000_000.0


class Watcher:
    """Subscribes to the daemon's stats and forecasts; records forecast latencies (receipt - sample ts)."""

    def __init__(self, port: int) -> None:
        self.stats: dict = {}
        self.latencies: list[float] = []
        self.record = False
        self.final_ts = None  # when set: count forecasts of this sample ts (the last of a throughput run)
        self.finals = 0
        self.final_at = 0.0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{time.time_ns()}",
                                  protocol=mqtt.MQTTv5)
        ready = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe([("edge-lstm/+/stats", 0), ("edge-lstm/+/forecast/#", 0)])
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.on_socket_open = no_delay
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        ready.wait(10)

    def _on_message(self, client, userdata, msg) -> None:
        body = json.loads(msg.payload)
        if msg.topic.endswith("/stats"):
            self.stats = body
            return
        if body["ts"] == self.final_ts:
            self.finals += 1
            self.final_at = time.monotonic()
        if self.record and "/lat" in msg.topic:  # (not a late event of a throughput run)
            self.latencies.append(time.time() - body["ts"])

    def wait_finals(self, streams: int, samples: int, timeout: float = 60) -> float:
        """When the last sample's forecast arrived from every stream (precise), or failing that (a QoS 0
        forecast lost) when the stats report ``samples`` stepped (up to a stats interval late)."""
        stats_done = self.wait_samples(samples, timeout)
        deadline = time.monotonic() + 1.0
        while self.finals < streams and time.monotonic() < deadline:
            time.sleep(0.002)
        return self.final_at if self.finals >= streams else stats_done

    def wait_samples(self, n: int, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.stats.get("samples", 0) < n:
            time.sleep(0.005)
        if self.stats.get("samples", 0) < n:
            raise TimeoutError(f"the daemon stepped {self.stats.get('samples', 0)} of {n} samples")
        return time.monotonic()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def throughput(port: int, watcher: Watcher, streams: int, total: int, batch: int, done: int) -> float:
    pub = publisher(port)
    per_stream = total // streams
    values = np.sin(np.arange(per_stream) / 9.0) * 2 + 3
    watcher.final_ts, watcher.finals = T0 + per_stream - 1, 0  # (per_stream a multiple of forecast.every)
    start = time.monotonic()
    for i0 in range(0, per_stream, batch):
        for s in range(streams):
            stop = min(i0 + batch, per_stream)
            items = [{"ts": T0 + i, "value": round(float(values[i]), 4)} for i in range(i0, stop)]
            payload = json.dumps(items if batch > 1 else items[0])
            pub.publish(f"sensors/d{s}/run{streams}x{batch}", payload, qos=1)
    end = watcher.wait_finals(streams, done + per_stream * streams)
    pub.loop_stop()
    return per_stream * streams / (end - start)


def _echo(port: int) -> None:
    """The floor: subscribe like the daemon, answer every message with one forecast-shaped event of its
    last sample (QoS 1, acknowledged after publishing), report samples in stats every 0.1 s."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="echo", protocol=mqtt.MQTTv5, manual_ack=True)
    client.max_inflight_messages_set(1000)
    seen = [0]

    def on_message(c, userdata, msg) -> None:
        body = json.loads(msg.payload)
        items = body if isinstance(body, list) else [body]
        seen[0] += len(items)
        c.publish(f"edge-lstm/echo/forecast/{msg.topic}", json.dumps({"ts": items[-1]["ts"], "values": [0.0]}),
                  qos=1)
        c.ack(msg.mid, msg.qos)

    client.on_message = on_message
    client.on_socket_open = no_delay
    client.on_connect = lambda c, *a: c.subscribe("sensors/+/+", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    while True:
        time.sleep(0.1)
        client.publish("edge-lstm/echo/stats", json.dumps({"samples": seen[0]}), qos=0)


def _publish_rounds(port: int, streams: int, rate: float, seconds: float, batch: int, paced: bool) -> None:
    """Publisher process: every ``streams * batch / rate`` s, one message of ``batch`` samples per stream,
    each stamped as it is published (its last sample's ts = that moment). ``paced``: the streams' messages
    spread evenly over the interval, as independent devices publish; otherwise one burst per interval."""
    pub = publisher(port)
    interval = streams * batch / rate
    rounds = int(seconds * rate / (streams * batch))
    began = time.monotonic()
    for r in range(rounds):
        for s in range(streams):
            due = began + r * interval + (s * interval / streams if paced else 0.0)
            while time.monotonic() < due:
                time.sleep(max(0.0, min(0.0005, due - time.monotonic())))
            now = time.time()
            items = [{"ts": round(now - (batch - 1 - k) * 1e-3, 6),
                      "value": round(float(np.sin((r * batch + k) / 9.0) * 2 + 3), 4)} for k in range(batch)]
            pub.publish(f"sensors/d{s}/lat{batch}", json.dumps(items), qos=1)
    time.sleep(0.5)  # let paho's network thread flush before the process ends
    pub.loop_stop()


def latency(port: int, watcher: Watcher, streams: int, rate: float, seconds: float, done: int,
            batch: int = 10, paced: bool = False) -> dict:
    """Offer ``rate`` samples/s from ``streams`` streams, ``batch`` samples a message; latency = forecast event
    receipt - the message's publish time. With forecast.every = batch, every message yields one forecast, of
    its last sample. The publisher is its own process, so its bursts never delay the receipt timestamps
    (in one process, the watcher's callbacks waited on the publisher's loop for the GIL)."""
    rounds = int(seconds * rate / (streams * batch))
    watcher.record = True
    began = time.monotonic()
    sender = multiprocessing.get_context("spawn").Process(target=_publish_rounds,
                                                          args=(port, streams, rate, seconds, batch, paced))
    sender.start()
    try:
        watcher.wait_samples(done + rounds * streams * batch, timeout=seconds + 60)
        kept_up = True
    except TimeoutError:
        kept_up = False
    sender.join(10)
    time.sleep(0.5)
    watcher.record = False
    ms = np.array(watcher.latencies) * 1e3
    watcher.latencies = []
    achieved = rounds * streams * batch / (time.monotonic() - began)
    return {"rate": rate, "streams": streams, "batch": batch, "paced": paced, "achieved_rate": round(achieved),
            "events": int(ms.size),
            "kept_up": kept_up, "processed": watcher.stats.get("samples", 0) - done,
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--backend", default="numba-f32")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--echo", action="store_true", help="a trivial paho echo instead of the daemon (the floor)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="edge-lstm-bench-"))
    broker = Mosquitto(work / "broker").start()
    if args.echo:
        daemon = multiprocessing.get_context("spawn").Process(target=_echo, args=(broker.port,), daemon=True)
        daemon.start()
    else:
        daemon = DaemonProcess(["--bundle", args.bundle, "--backend", args.backend, "--broker", broker.url,
                                "--node-id", "bench", "--set", "stats.every_s=0.1", "--set", "forecast.every=10",
                                "--quiet"], work / "daemon.log")
    pid = daemon.pid if args.echo else daemon.process.pid
    result: dict = {"backend": "echo" if args.echo else args.backend, "throughput": [], "latency": None}
    try:
        watcher = Watcher(broker.port)
        while not watcher.stats:
            time.sleep(0.05)
        done = 0
        # Each phase's streams are new: a bundle that scales each stream by its first N samples holds them until
        # then, so a phase needs more than N per stream to step anything (the 1,000-stream single-sample phase
        # sent 50 each: with the demo bundle's 120 it stepped none and the bench timed out).
        standardise = json.loads((Path(args.bundle) / "manifest.json").read_text()).get("preprocessing", {}).get(
            "standardise", 0)
        least = 10 * (standardise // 10 + 2)
        for streams, total in ((1, 100_000), (100, 100_000), (1000, 200_000)):
            for batch in (100, 1):
                n = max(total if batch > 1 else total // 4, streams * least)
                rate = throughput(broker.port, watcher, streams, n, batch, done)
                done += (n // streams) * streams
                result["throughput"].append({"streams": streams, "batch": batch, "samples_per_s": round(rate)})
        result["rss_mb_after_1000_streams"] = round(rss_mb(pid), 1)
        result["latency"] = []
        for paced in (False, True):
            for rate in (2_000, 10_000):
                row = latency(broker.port, watcher, 100, rate, 10.0, done, paced=paced)
                done += row["processed"]
                result["latency"].append(row)
        result["rss_mb_end"] = round(rss_mb(pid), 1)
    finally:
        daemon.kill() if args.echo else daemon.stop()
        broker.stop()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("| streams | samples per message | samples/s into events |\n|---:|---:|---:|")
    for row in result["throughput"]:
        print(f"| {row['streams']:,} | {row['batch']} | {row['samples_per_s']:,} |")
    print("\n| offered samples/s | streams × samples per message | publishing | achieved | kept up | p50 ms | p99 ms "
          "| events |")
    print("|---:|---|---|---:|---|---:|---:|---:|")
    for lat in result["latency"]:
        print(f"| {lat['rate']:,.0f} | {lat['streams']} × {lat['batch']} | {'paced' if lat['paced'] else 'bursts'} | "
              f"{lat['achieved_rate']:,} | "
              f"{'yes' if lat['kept_up'] else 'no'} | {lat['p50_ms']} | {lat['p99_ms']} | {lat['events']:,} |")
    print(f"\nDaemon RSS: {result['rss_mb_after_1000_streams']} MB after 1,000 streams, "
          f"{result['rss_mb_end']} MB at the end.")


if __name__ == "__main__":
    main()
