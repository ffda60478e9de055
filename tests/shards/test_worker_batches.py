"""A shard worker's batch, without a broker (a recording channel in RabbitMQ's place): bad payloads and a sample
that makes the engine fail are reported and left, the rest of the batch goes on, and events are committed with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pika")

from edge_lstm.serve.config import load_config
from edge_lstm.shards.worker import ShardWorker
from edge_lstm.stream.engine import Engine

BUNDLE = Path(__file__).resolve().parents[2] / "edge_lstm" / "demo" / "bundle"


class Recorder:
    """Stands in for a pika channel: keeps what is published, committed and acknowledged."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, bytes]] = []
        self.commits = 0
        self.acks: list[int] = []

    def basic_publish(self, exchange, routing_key, body, properties=None) -> None:
        self.published.append((exchange, routing_key, body))

    def tx_commit(self) -> None:
        self.commits += 1

    def basic_get(self, queue, auto_ack=False):
        return None, None, None  # (no snapshot yet)

    def basic_ack(self, tag, multiple=False) -> None:
        self.acks.append(tag)


def test_a_batch_survives_bad_payloads_and_a_sample_the_engine_fails_on(monkeypatch):
    config = load_config(None, {"model.bundle": str(BUNDLE), "amqp.url": "amqp://guest:guest@127.0.0.1/%2F",
                                "mqtt.node_id": "n", "forecast.every": "1", "input.standardise": "3"})
    worker = ShardWorker(config)
    worker.publisher, worker.reader, worker.channels = Recorder(), Recorder(), {0: Recorder()}
    batch = [(0, tag, f"sensors.d{tag % 2}.v", json.dumps({"ts": 1.7e9 + tag, "value": 0.1 * tag}).encode(), 0.0)
             for tag in range(1, 9)]
    batch.insert(3, (0, 99, "sensors.d0.v", b"{oops", 0.0))
    engine_process = Engine.process

    def fails_on_d1_at_5(engine, items):
        if any(name == "d1/v" and sample.ts == 1.7e9 + 5 for name, sample in items):
            raise RuntimeError("a bug")
        return engine_process(engine, items)

    monkeypatch.setattr(Engine, "process", fails_on_d1_at_5)
    worker.process(batch)
    routed = [(key, json.loads(body)) for _, key, body in worker.publisher.published]
    errors = [b for key, b in routed if key == "edge-lstm.n.errors"]
    assert [e["reason"][:12] for e in errors] == ["invalid JSON", "internal err"], errors
    forecasts = [b["ts"] for key, b in routed if key.startswith("edge-lstm.n.forecast.")]
    assert len(forecasts) == 7 and 1.7e9 + 5 not in forecasts  # (every sample but the failing one)
    assert worker.publisher.commits == 1 and worker.shards[0].last_tag == 8 and worker.shards[0].unacked == 9
    worker.next_snapshot = 0
    worker.snapshot()
    assert worker.channels[0].acks == [8] and worker.publisher.commits == 2  # (the snapshot, then the ack)
    assert worker.publisher.published[-1][1] == "edge-lstm.state.0"
