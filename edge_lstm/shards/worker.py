"""A shard worker (``edge-lstm serve --amqp URL``): the daemon's engine over the shards of streams it holds on
RabbitMQ (edge_lstm.shards.topology), with each shard's state handed over through the broker.

- It registers as a consumer on its own shards (shard % workers == index) first and, ``standby_after_s`` later, on
  every other shard: RabbitMQ's single active consumer gives each shard to the first registered worker that is
  alive, and to the next one when it dies. A worker that comes back stays standby on the shards another took over
  until that one stops.
- Each shard it holds has its own engine. The first delivery of a shard restores the shard's newest snapshot.
- Every ``snapshot_every_s`` (or sooner, when a shard's unacknowledged deliveries reach half of ``prefetch``) each
  shard that took samples is snapshotted to its state queue, committed (an AMQP transaction: the broker has taken
  it), and only then are its
  deliveries acknowledged. A worker that dies loses nothing: its unacknowledged samples go to the next worker, which
  restores the snapshot and replays them; the samples the snapshot already holds are dropped there as stale (not
  newer than their stream's last), so the state is as if nothing happened and only events made after the snapshot
  are published twice. An anomaly event is the same event again when its ``incident`` and ``state`` are; a
  forecast when its ``stream`` and ``ts`` are (each message's AMQP ``message_id`` says so).
- Events go to ``amq.topic`` with the routing key RabbitMQ's MQTT plugin delivers as the daemon's topic
  (``edge-lstm/<node>/<kind>/<stream>``), committed with each batch (one round trip per batch, not per event),
  so before the snapshot that covers their samples.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import edge_lstm
from edge_lstm.serve import checkpoint
from edge_lstm.serve.config import engine_config
from edge_lstm.serve.payloads import PayloadError, Sample, parse
from edge_lstm.serve.topics import event_topic, stream_name
from edge_lstm.serve.wire import event_body, rejection
from edge_lstm.shards import topology
from edge_lstm.stream.engine import Engine
from edge_lstm.stream.events import Event, Incident
from edge_lstm.stream.warmup import warm_up

log = logging.getLogger("edge_lstm.shards.worker")


@dataclass
class Shard:
    """A shard this worker holds: its engine and its deliveries processed but not yet acknowledged."""

    number: int
    engine: Engine
    channel: Any
    last_tag: int = 0  # the newest delivery processed (acknowledged with all before it once a snapshot covers it)
    unacked: int = 0
    restored: str = ""
    counters: Counter = field(default_factory=Counter)


class ShardWorker:
    """One AMQP connection; a consumer on every shard queue; an engine per shard held."""

    def __init__(self, config: dict[str, dict[str, Any]]) -> None:
        import pika  # (the amqp extra)

        logging.getLogger("pika").setLevel(logging.WARNING)  # (its INFO logs every channel opened and closed)
        self.pika = pika
        self.config = config
        ac = self.amqp = config["amqp"]
        self.prefix, self.shard_count = ac["prefix"], ac["shards"]
        if not 0 <= ac["index"] < ac["workers"]:
            raise ValueError(f"amqp.index: must be in [0, amqp.workers = {ac['workers']}), got {ac['index']}")
        if config["input"]["features"]:
            raise ValueError("input.features (a device's channels on separate topics) cannot be sharded: the "
                             "channels hash to different shards; publish {\"values\": [...]} per device instead")
        self.node = config["mqtt"]["node_id"]
        self.model = edge_lstm.load(config["model"]["bundle"], config["model"]["backend"])
        self.settings = engine_config(config, self.model.bundle.standardise, self.model.bundle.difference)
        warm_up(self.model, self.settings)
        self.bundle_hash = self.model.bundle.sha256
        self.shards: dict[int, Shard] = {}
        self.pending: list[tuple[int, int, str, bytes, float]] = []  # (shard, delivery tag, routing key, body, t)
        self.counters: Counter[str] = Counter()
        self.stopping = False
        self.connection = None

    # -- broker ----------------------------------------------------------------------------------------
    def connect(self) -> None:
        params = self.pika.URLParameters(self.amqp["url"])
        params.heartbeat = 30
        self.connection = self.pika.BlockingConnection(params)
        self.publisher = self.connection.channel()
        self.publisher.tx_select()
        self.reader = self.connection.channel()  # (snapshots are read outside the publisher's transactions)
        topology.declare(self.publisher, self.prefix, self.shard_count, self.config["input"]["subscribe"])
        self.channels: dict[int, Any] = {}
        own = topology.own_shards(self.shard_count, self.amqp["workers"], self.amqp["index"])
        for k in own:
            self._register(k)
        self.standby_at = time.monotonic() + self.amqp["standby_after_s"]
        log.info("connected to %s: %d shards, own %s; standby on the others in %g s", self._where(),
                 self.shard_count, own, self.amqp["standby_after_s"])

    def _where(self) -> str:
        params = self.pika.URLParameters(self.amqp["url"])
        return f"amqp://{params.host}:{params.port}{params.virtual_host}"

    def _register(self, k: int) -> None:
        channel = self.connection.channel()
        channel.basic_qos(prefetch_count=self.amqp["prefetch"])
        channel.basic_consume(topology.shard_queue(self.prefix, k), functools.partial(self._on_message, k))
        self.channels[k] = channel

    def _on_message(self, k: int, channel, method, properties, body: bytes) -> None:
        self.pending.append((k, method.delivery_tag, method.routing_key, body, time.time()))

    # -- state -----------------------------------------------------------------------------------------
    def _take(self, k: int) -> Shard:
        """Shard ``k``'s first delivery here: its engine, from the newest snapshot when there is one."""
        engine = Engine(self.model, self.settings)
        shard = Shard(k, engine, self.channels[k])
        method, _, body = self.reader.basic_get(topology.state_queue(self.prefix, k), auto_ack=False)
        if method is None:
            shard.restored = "no snapshot: fresh"
        else:
            self.reader.basic_nack(method.delivery_tag, requeue=True)  # (it stays the newest until replaced)
            shard.restored = self._restore(shard, body)
        self.counters["shards_taken"] += 1
        log.info("took shard %d: %s", k, shard.restored)
        return shard

    def _restore(self, shard: Shard, body: bytes) -> str:
        try:
            arrays, meta = checkpoint.from_bytes(body, f"shard {shard.number}'s snapshot")
        except ValueError as exc:
            log.warning("%s; starting the shard fresh", exc)
            return f"unreadable snapshot: fresh ({exc})"
        if meta.get("bundle_sha256") != self.bundle_hash:
            return "snapshot from another bundle: fresh"
        try:
            note = shard.engine.restore(arrays, meta)
        except (KeyError, IndexError, TypeError, ValueError) as exc:  # (one that reads but does not fit)
            shard.engine = Engine(self.model, self.settings)
            log.warning("shard %d's snapshot does not fit (%s: %s); starting the shard fresh", shard.number,
                        type(exc).__name__, exc)
            return f"snapshot did not fit: fresh ({type(exc).__name__}: {exc})"
        shard.counters.update({k: int(v) for k, v in meta.get("shard_counters", {}).items()})
        self.counters["restored_streams"] += len(shard.engine.names)
        age = time.time() - float(meta.get("saved_at", time.time()))
        return f"restored {len(shard.engine.names)} streams from a snapshot {age:.1f} s old" + (f"; {note}" if note
                                                                                               else "")

    def snapshot(self, force: bool = False) -> None:
        """Snapshot every shard with unacknowledged deliveries (committed), then acknowledge them."""
        due = []
        for shard in self.shards.values():
            if not shard.unacked or not (force or shard.unacked >= self.amqp["prefetch"] // 2
                                         or time.monotonic() >= self.next_snapshot):
                continue
            arrays, meta = shard.engine.snapshot()
            meta.update(bundle_sha256=self.bundle_hash, shard=shard.number, saved_at=time.time(),
                        shard_counters=dict(shard.counters))
            body = checkpoint.to_bytes(arrays, meta)
            self.publisher.basic_publish("", topology.state_queue(self.prefix, shard.number), body,
                                         self.pika.BasicProperties(delivery_mode=2,
                                                                   content_type="application/x-npz"))
            self.counters["snapshots"] += 1
            self.counters["snapshot_bytes"] = len(body)
            due.append(shard)
        if due:
            self.publisher.tx_commit()
        for shard in due:
            shard.channel.basic_ack(shard.last_tag, multiple=True)
            shard.unacked = 0
        if time.monotonic() >= self.next_snapshot:
            self.next_snapshot = time.monotonic() + self.amqp["snapshot_every_s"]

    # -- samples ---------------------------------------------------------------------------------------
    def process(self, batch: list[tuple[int, int, str, bytes, float]]) -> None:
        """Step each shard through its deliveries of ``batch``; publish the events (committed)."""
        template, max_bytes = self.config["input"]["stream"], self.config["input"]["max_payload_bytes"]
        by_shard: dict[int, list[tuple[str, Sample]]] = {}
        for k, tag, key, body, arrival in batch:
            if k not in self.shards:
                self.shards[k] = self._take(k)
            shard = self.shards[k]
            shard.last_tag, shard.unacked = tag, shard.unacked + 1
            topic = topology.routing_key_to_mqtt(key)
            try:
                name = stream_name(template, topic)
                found = parse(body, arrival, self.model.features, max_bytes)
            except PayloadError as exc:
                self._error(topic, body, str(exc))
                continue
            except Exception as exc:  # a bug some input triggers: reported and acknowledged, the worker goes on
                self._error(topic, body, f"internal error reading the message: {type(exc).__name__}: {exc}")
                continue
            by_shard.setdefault(k, []).extend((name, s) for s in found)
        self.counters["messages"] += len(batch)
        for k, samples in by_shard.items():
            engine = self.shards[k].engine
            stale = engine.counters["stale"]
            for event in self._advance(engine, samples):
                self._publish_event(event)
            self.shards[k].counters["replayed_stale"] += engine.counters["stale"] - stale
            self.counters["samples"] += len(samples)
        self.publisher.tx_commit()

    def _advance(self, engine: Engine, samples: list[tuple[str, Sample]]) -> list[Event]:
        """The engine's events for ``samples``; a sample the engine fails on is reported and left
        (:meth:`Engine.process_isolating`): redelivered, it would stop every worker that took the shard."""
        def failed(k: int, exc: Exception) -> None:
            name, sample = samples[k]
            self.counters["internal_errors"] += 1
            self._error(name, b"", f"internal error on a sample at {sample.ts}: {type(exc).__name__}: {exc}")

        return engine.process_isolating(samples, failed)

    def _publish_event(self, event: Event) -> None:
        key = (f"{event.incident}/{event.state}" if isinstance(event, Incident) else f"{event.stream}@{event.ts}")
        topic = event_topic(f"edge-lstm/{self.node}", event.kind, event.stream)
        self.publisher.basic_publish("amq.topic", topology.mqtt_to_routing_key(topic), json.dumps(event_body(event)),
                                     self.pika.BasicProperties(message_id=key, content_type="application/json"))
        self.counters[f"events_{event.kind}"] += 1

    def _error(self, topic: str, payload: bytes, reason: str) -> None:
        self.counters["errors"] += 1
        body = rejection(topic, payload, reason, self.counters["errors"], time.time())
        errors = topology.mqtt_to_routing_key(f"edge-lstm/{self.node}/errors")
        self.publisher.basic_publish("amq.topic", errors, json.dumps(body))

    def stats(self) -> dict[str, Any]:
        return {"node": self.node, "worker": self.amqp["index"], "ts": time.time(), "shards": sorted(self.shards),
                "streams": sum(len(s.engine.names) for s in self.shards.values()),
                "stale": sum(s.engine.counters["stale"] for s in self.shards.values()), **self.counters}

    # -- loop ------------------------------------------------------------------------------------------
    def request_stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self, handle_signals: bool = True) -> int:
        """Consume until SIGTERM/SIGINT; then snapshot and acknowledge everything, and hand the shards on. A worker
        that loses its broker exits 1 (its supervisor restarts it; its shards went to the standbys meanwhile)."""
        if handle_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        try:
            return self._run()
        except self.pika.exceptions.AMQPError as exc:
            log.error("lost the broker at %s: %s: %s", self._where(), type(exc).__name__, exc)
            return 1

    def _run(self) -> int:
        self.connect()
        self.next_snapshot = time.monotonic() + self.amqp["snapshot_every_s"]
        next_stats = time.monotonic()
        standby = False
        while not self.stopping:
            self.connection.process_data_events(time_limit=0.05)
            if not standby and time.monotonic() >= self.standby_at:
                for k in range(self.shard_count):
                    if k not in self.channels:
                        self._register(k)
                standby = True
            if self.pending:
                batch, self.pending = self.pending, []
                self.process(batch)
            self.snapshot()
            if time.monotonic() >= next_stats:
                stats = topology.mqtt_to_routing_key(f"edge-lstm/{self.node}/stats/worker-{self.amqp['index']}")
                self.publisher.basic_publish("amq.topic", stats, json.dumps(self.stats()))
                self.publisher.tx_commit()
                next_stats = time.monotonic() + self.config["stats"]["every_s"]
        # Hand over: what was delivered is processed, snapshotted (committed) and acknowledged; then the connection
        # closes, which returns whatever came after to the queues, ahead of the rest, for the next worker (which
        # restores this final snapshot first).
        if self.pending:
            self.process(self.pending)
            self.pending = []
        self.snapshot(force=True)
        log.info("stopped: %s", json.dumps(self.stats()))
        self.connection.close()
        return 0
