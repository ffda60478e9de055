"""Shard workers on RabbitMQ: samples/s with 1 and 2 workers, and a shard's snapshot (size, save, restore) at
10,000 streams.

    python benchmarks/shard_bench.py BUNDLE [--streams 1000] [--samples 200] [--shards 8] [--json]

Starts a private RabbitMQ node (edge_lstm.demo.rabbitmq), fills the shard queues first (every message a batch of
10 samples of one stream, published to amq.topic as the MQTT plugin would), then starts the workers and times
them from their first stats to the last sample: what the workers take, not what a publisher manages. Everything
shares this machine's cores (broker and workers), as on one gateway.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pika

import edge_lstm
from edge_lstm.demo.rabbitmq import RabbitMQ
from edge_lstm.serve import checkpoint
from edge_lstm.serve.payloads import Sample
from edge_lstm.shards import topology
from edge_lstm.stream.engine import Engine, EngineConfig

BATCH = 10  # samples per message
T0 = 1.7e9


def fill(node: RabbitMQ, prefix: str, shards: int, streams: int, samples: int) -> int:
    """Declare the topology and publish every stream's samples; returns the messages published."""
    connection = pika.BlockingConnection(pika.URLParameters(node.amqp_url))
    channel = connection.channel()
    topology.declare(channel, prefix, shards, ["sensors/+/+"])
    rng = np.random.default_rng(0)
    sent = 0
    for start in range(0, samples, BATCH):
        for s in range(streams):
            batch = [{"ts": T0 + i, "value": float(np.sin(i / 9 + s) + 0.05 * rng.normal())}
                     for i in range(start, min(samples, start + BATCH))]
            channel.basic_publish("amq.topic", f"sensors.d{s}.v", json.dumps(batch))
            sent += 1
    connection.close()
    return sent


def throughput(node: RabbitMQ, bundle: Path, workers: int, shards: int, streams: int, samples: int,
               work: Path) -> dict:
    prefix = f"bench{workers}"
    messages = fill(node, prefix, shards, streams, samples)
    connection = pika.BlockingConnection(pika.URLParameters(node.amqp_url))
    channel = connection.channel()
    stats_queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(stats_queue, "amq.topic", routing_key=f"edge-lstm.{prefix}.stats.#")
    procs = [subprocess.Popen([sys.executable, "-m", "edge_lstm", "serve", "--bundle", str(bundle), "--amqp",
                               node.amqp_url, "--node-id", prefix, "--set", f"amqp.prefix={prefix}",
                               "--set", f"amqp.shards={shards}", "--set", f"amqp.workers={workers}",
                               "--set", f"amqp.index={k}", "--set", "stats.every_s=0.2", "--quiet"],
                              stdout=(work / f"{prefix}-{k}.log").open("w"), stderr=subprocess.STDOUT)
             for k in range(workers)]
    latest: dict[int, dict] = {}
    first = last = None
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            method, _, body = channel.basic_get(stats_queue, auto_ack=True)
            if method is None:
                time.sleep(0.02)
                continue
            stats = json.loads(body)
            latest[stats["worker"]] = stats
            done = sum(s.get("messages", 0) for s in latest.values())
            if first is None and done:
                first = (time.monotonic(), done)
            if done >= messages:
                last = time.monotonic()
                break
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        connection.close()
    if first is None or last is None:
        raise RuntimeError(f"the workers did not finish: {latest}")
    took = last - first[0]
    processed = (messages - first[1]) * BATCH
    return {"workers": workers, "shards": shards, "streams": streams, "samples": messages * BATCH,
            "seconds": round(took, 2), "samples_per_s": round(processed / took)}


def snapshot_cost(bundle: Path, streams: int) -> dict:
    """One shard's engine at ``streams`` streams, past their warm-up: snapshot bytes, save and restore times."""
    model = edge_lstm.load(bundle, "numba-int8")
    config = EngineConfig(standardise=edge_lstm.read_bundle(bundle).standardise,
                          difference=edge_lstm.read_bundle(bundle).difference)
    engine = Engine(model, config, capacity=streams)
    for i in range(config.standardise + 60):
        engine.process([(f"d{s}/v", Sample(T0 + i, (float(np.sin(i / 9 + s)),))) for s in range(streams)])
    started = time.perf_counter()
    body = checkpoint.to_bytes(*engine.snapshot())
    saved = time.perf_counter() - started
    started = time.perf_counter()
    fresh = Engine(model, config)
    fresh.restore(*checkpoint.from_bytes(body))
    restored = time.perf_counter() - started
    return {"streams": streams, "bytes": len(body), "bytes_per_stream": len(body) // streams,
            "save_s": round(saved, 3), "restore_s": round(restored, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--snapshot-streams", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shard-bench-"))
    node = RabbitMQ().start()
    try:
        runs = [throughput(node, args.bundle, w, args.shards, args.streams, args.samples, work) for w in (1, 2)]
    finally:
        node.stop()
    result = {"throughput": runs, "snapshot": snapshot_cost(args.bundle, args.snapshot_streams)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for run in runs:
        print(f"{run['workers']} worker(s), {run['shards']} shards, {run['streams']:,} streams: "
              f"{run['samples_per_s']:,} samples/s ({run['samples']:,} in {run['seconds']} s)")
    snap = result["snapshot"]
    print(f"snapshot of one shard at {snap['streams']:,} streams: {snap['bytes'] / 1e6:.1f} MB "
          f"({snap['bytes_per_stream']:,} B per stream), saved in {snap['save_s']} s, restored in "
          f"{snap['restore_s']} s")


if __name__ == "__main__":
    main()
