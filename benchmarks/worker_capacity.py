"""The daemon's worker alone (parse, batched step, events published to a local Mosquitto), fed
in-process with single-sample messages: what it can do when the network is not the limit.

    python benchmarks/worker_capacity.py BUNDLE
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge_lstm.demo.brokers import Mosquitto
from edge_lstm.serve.config import load_config
from edge_lstm.serve.daemon import Daemon

STREAMS = 1000


def messages(t: float) -> list:
    """One single-sample message per stream, shaped as the daemon's queue holds them (no ack owed)."""
    return [(f"sensors/d{s}/x", f'{{"ts": {t}, "value": 1.5}}'.encode(), 0.0, 0, 0) for s in range(STREAMS)]


def main(bundle: str) -> None:
    broker = Mosquitto(Path("/tmp/edge-lstm-worker-capacity")).start()
    try:
        config = load_config(None, {"model.bundle": bundle, "mqtt.broker": broker.url, "forecast.every": "10"})
        daemon = Daemon(config)
        daemon.connect()
        daemon.connected.wait(5)
        daemon.process(messages(1e9))  # registers the streams
        rounds = 20
        started = time.perf_counter()
        for r in range(rounds):
            daemon.process(messages(1e9 + 1 + r))
        rate = rounds * STREAMS / (time.perf_counter() - started)
        print(f"worker: {rate:,.0f} single-sample messages/s ({STREAMS:,} streams, batches of {STREAMS:,})")
        daemon.stopping.set()
        daemon.client.disconnect()
        daemon.client.loop_stop()
    finally:
        broker.stop()


if __name__ == "__main__":
    main(sys.argv[1])
