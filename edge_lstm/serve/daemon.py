"""``edge-lstm serve``: the MQTT daemon. A thin loop over the pure parts.

The paho network thread only enqueues what arrives (with manual acknowledgement); a worker (the
main thread) drains the queue in batches, parses payloads, advances every stream with pending
samples in one batched step (:class:`edge_lstm.stream.engine.Engine`), publishes the events, and
acknowledges the messages it has processed, so a crash redelivers instead of losing them.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import threading
import time
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import edge_lstm
from edge_lstm.runtime.memory import page_out_compiler
from edge_lstm.serve import daemon_state, homeassistant
from edge_lstm.serve.assembly import FeatureAssembler
from edge_lstm.serve.broker import no_delay, parse_broker_url
from edge_lstm.serve.config import ConfigError, engine_config
from edge_lstm.serve.connection import ConnectionStatus, describe, mqtt_client, receive_maximum
from edge_lstm.serve.intake import Intake
from edge_lstm.serve.outbox import Outbox
from edge_lstm.serve.payloads import PayloadError, Sample, parse
from edge_lstm.serve.registry import Registry
from edge_lstm.serve.stats import Metrics, daemon_stats
from edge_lstm.serve.systemd import sd_notify
from edge_lstm.serve.topics import event_topic, stream_name
from edge_lstm.serve.wire import event_body, rejection
from edge_lstm.stream.engine import Engine
from edge_lstm.stream.events import Event
from edge_lstm.stream.warmup import warm_up

log = logging.getLogger("edge_lstm.serve.daemon")

MAX_INFLIGHT = 1000  # QoS 1 events the daemon has in flight at most (less when the broker allows fewer)


class Daemon:
    """One broker connection, one queue, one engine."""

    def __init__(self, config: dict[str, dict[str, Any]]) -> None:
        self.config = config
        mc, ic = config["mqtt"], config["input"]
        self.node = mc["node_id"]
        self.prefix = f"edge-lstm/{self.node}"
        self.qos = mc["qos"]
        self.model = edge_lstm.load(config["model"]["bundle"], config["model"]["backend"])
        settings = engine_config(config, self.model.bundle.standardise, self.model.bundle.difference)
        warm_up(self.model, settings)  # compile now, not while the first messages wait
        self.engine = Engine(self.model, settings)
        self.bundle_hash = self.model.bundle.sha256
        features = ic["features"]
        if features and len(features) != self.model.features:
            raise ConfigError(f"input.features: lists {len(features)} channels but the model takes "
                              f"{self.model.features} features")
        self.assembler = FeatureAssembler(features) if features else None
        self.outbox = Outbox(config["processing"]["max_unacked"], config["processing"]["ack_timeout_s"])
        self.counters: Counter[str] = Counter()
        pc = config["processing"]
        self.intake = Intake(pc["queue_size"], pc["overload"], pc["batch_max"], pc["batch_bytes"], self._ack,
                             self.counters)
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.subscribing: dict[int, str] = {}  # subscribe message id -> topic filter, until the broker answers
        self.started = time.time()
        self.checkpoint_path = config["state"]["checkpoint"]
        self.registry = Registry(ic["max_streams"])
        self.discovery = config["homeassistant"]["prefix"] if config["homeassistant"]["discovery"] else ""
        self.ha_status = f"{self.discovery}/status" if self.discovery else None  # Home Assistant's birth topic
        self.rediscover = threading.Event()  # (re)publish every stream's discovery configs (connected; HA restarted)
        self.client = self._client()  # (before the restore, which may evict: evictions publish)
        self.restored = self._restore()
        port = config["stats"]["metrics_port"]
        self.metrics = Metrics(port) if port else None

    # -- state ------------------------------------------------------------------------------------
    def _restore(self) -> str:
        return daemon_state.restore(self)

    def save_checkpoint(self) -> None:
        daemon_state.save(self)

    # -- MQTT -------------------------------------------------------------------------------------
    def _client(self) -> mqtt.Client:
        broker = parse_broker_url(self.config["mqtt"]["broker"])
        client = mqtt_client(self.config["mqtt"], broker, self.node, MAX_INFLIGHT)
        client.will_set(f"{self.prefix}/status", json.dumps({"state": "offline", "node": self.node}), qos=1,
                        retain=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_socket_open = no_delay  # events leave at once, not after the broker's delayed ACK
        self.broker = broker
        self.link = ConnectionStatus(str(broker))
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.link.failed(f"the broker refused the connection: {reason_code}")
            return
        log.info("connected to %s (session present: %s)", self.broker, flags.session_present)
        self.link.up()
        # QoS 1 events in flight at once: no more than the broker's Receive Maximum (MQTT 5; Mosquitto's is
        # its max_inflight_messages, 20 unless configured), which a client must not exceed. (paho's setter
        # refuses an open connection; its own comment's doubt is about 0, never set here. paho resends what
        # the session holds after this callback, within the new limit.)
        broker_maximum = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        client._max_inflight_messages = min(MAX_INFLIGHT, broker_maximum or MAX_INFLIGHT)
        topics = [*self.config["input"]["subscribe"], *([self.ha_status] if self.ha_status else [])]
        for topic in topics:
            _, mid = client.subscribe(topic, qos=self.qos)
            self.subscribing[mid] = topic
        if self.discovery:
            self.rediscover.set()
        client.publish(f"{self.prefix}/status", json.dumps({
            "state": "online", "node": self.node, "version": edge_lstm.__version__, "bundle_sha256": self.bundle_hash,
            "backend": self.model.backend, "restored": self.restored, "since": self.started}), qos=1, retain=True)
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        """A broker that refuses a subscription (its ACL: "Not authorized") would leave the daemon waiting for
        samples that never come: say so in the log and on .../errors."""
        topic = self.subscribing.pop(mid, "?")
        for code in reason_codes:
            if code.is_failure:
                log.error("the broker refused the subscription to %s: %s", topic, code)
                self._error(topic, b"", f"the broker refused the subscription to {topic!r}: {code}")
            else:
                log.info("subscribed to %s", topic)

    def _on_connect_fail(self, client, userdata) -> None:
        """paho's thread: an attempt failed before the broker answered (refused, DNS, TLS, timeout)."""
        exc = getattr(client, "connect_error", None)
        self.link.failed(describe(exc, self.broker.host, self.broker.port) if exc else "unknown reason")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            log.warning("disconnected from %s (%s); reconnecting", self.broker, reason_code)
            self.counters["disconnects"] += 1
            self.link.down(f"disconnected: {reason_code}")

    def _on_message(self, client, userdata, message) -> None:
        """Network thread: enqueue only. (An exception here would stop paho's network thread.)"""
        if not self.intake.open.is_set():
            return  # shutting down: not acknowledged, so the broker keeps it for the next start
        try:
            topic = message.topic
        except UnicodeDecodeError:  # (a broker that passes a topic that is not UTF-8; Mosquitto does not)
            topic = message._topic.decode("utf-8", "replace")
        item = (topic, message.payload, time.time(), message.mid, message.qos)
        if topic == self.ha_status:  # Home Assistant (re)started: configs again
            if message.payload == b"online":
                self.rediscover.set()
            self._ack([item])
            return
        self.intake.offer(item)

    def _ack(self, items: list) -> None:
        for _, _, _, mid, qos in items:
            if qos > 0:
                self.client.ack(mid, qos)

    def connect(self) -> None:
        mc = self.config["mqtt"]
        properties = None
        if mc["protocol"] == "5":
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = mc["session_expiry"]
            # QoS 1 messages the broker may send before we acknowledge one: without it Mosquitto keeps 20 in
            # flight, queues 1,000 more and silently drops the rest of a burst. Up to the daemon's own queue, so
            # that overload is the daemon's decision (processing.overload), counted in dropped_overload.
            properties.ReceiveMaximum = receive_maximum(self.intake.size)
        kwargs = {"clean_start": False, "properties": properties} if mc["protocol"] == "5" else {}
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=mc["keepalive"], **kwargs)
        self.client.loop_start()

    # -- the worker -------------------------------------------------------------------------------
    def process(self, items: list) -> None:
        """Parse, step, publish and acknowledge one drained batch. Every message is acknowledged, whatever
        happens to it: one the daemon cannot take must not come back after a restart (QoS 1) to fail again."""
        try:
            self._process(items)
        except Exception as exc:  # (each message's own failures are caught inside; this is the last line)
            self._internal_error("", b"", f"processing a batch of {len(items)} message(s)", exc)
        finally:
            self._ack(items)

    def _process(self, items: list) -> None:
        features = self.model.features
        template, max_bytes = self.config["input"]["stream"], self.config["input"]["max_payload_bytes"]
        samples: list[tuple[str, Sample]] = []
        origins: list[tuple[str, bytes]] = []  # each sample's message (topic, payload)
        self.registry.begin_pass()
        for topic, payload, arrival, _, _ in items:
            try:
                name = stream_name(template, topic)
                found = parse(payload, arrival, 1 if self.assembler else features, max_bytes)
                self.registry.admit(name, arrival)
                if self.assembler is None:
                    parsed = [(name, s) for s in found]
                else:
                    channel = stream_name(self.config["input"]["feature"], topic)
                    parsed = [(name, full) for s in found for full in self.assembler.add(name, channel, s)]
            except PayloadError as exc:
                self._error(topic, payload, str(exc))
                continue
            except Exception as exc:  # a bug some input triggers: reported and acknowledged, the daemon goes on
                self._internal_error(topic, payload, "reading the message", exc)
                continue
            samples.extend(parsed)
            origins.extend([(topic, payload)] * len(parsed))
        self.counters["messages"] += len(items)
        if self.discovery:
            self._announce(self.registry.arrived)
        if self.registry.leaving:  # room for this pass's new streams (input.max_streams)
            self._evict(self.registry.leaving, "the least recently heard from, to make room (input.max_streams)")
        stale_before = self.engine.counters["stale"]
        events = self._advance(samples, origins) if samples else []
        self.counters["stale"] += self.engine.counters["stale"] - stale_before
        for event in events:
            self._publish_event(event)

    def _advance(self, samples: list[tuple[str, Sample]], origins: list[tuple[str, bytes]]) -> list:
        """The engine's events for ``samples``; a sample the engine fails on is reported on .../errors and left
        (:meth:`Engine.process_isolating`)."""
        def failed(k: int, exc: Exception) -> None:
            name, sample = samples[k]
            self._internal_error(*origins[k], f"on a sample of {name!r} at {sample.ts}", exc)

        return self.engine.process_isolating(samples, failed)

    def _evict(self, names: list[str], why: str) -> None:
        """Forget streams ``names`` everywhere (engine, assembler, registry); publish what that decides."""
        names = list(names)
        for event in self.engine.evict(names):
            self._publish_event(event)
        if self.assembler is not None:
            self.assembler.forget(names)
        self.registry.forget(names)
        self.counters["evicted"] += len(names)
        if self.discovery:
            self._announce(names, remove=True)
        log.info("evicted %d stream(s), %s: %s", len(names), why, ", ".join(n[:40] for n in names[:5])
                 + (", ..." if len(names) > 5 else ""))

    def evict_idle(self, now: float) -> None:
        """Evict the streams silent for longer than ``input.evict_after_s`` (by arrival time)."""
        after = self.config["input"]["evict_after_s"]
        if after:
            idle = self.registry.idle(before=now - after)
            if idle:
                self._evict(idle, f"silent for over {after:g} s (input.evict_after_s)")

    def _announce(self, streams: list[str], remove: bool = False) -> None:
        """Home Assistant discovery configs of ``streams``, retained (``remove``: empty ones, which delete them)."""
        for stream in streams:
            for topic, config in homeassistant.configs(self.discovery, self.node, stream):
                self.client.publish(topic, "" if remove else json.dumps(config), qos=1, retain=True)

    def _internal_error(self, topic: str, payload: bytes, doing: str, exc: Exception) -> None:
        """A failure that is the daemon's, not the input's: counted, logged (the first with its traceback) and
        reported on .../errors."""
        self.counters["internal_errors"] += 1
        if self.counters["internal_errors"] == 1:
            log.error("internal error %s", doing, exc_info=exc)
        else:
            log.error("internal error %s: %s: %s", doing, type(exc).__name__, exc)
        self._error(topic, payload, f"internal error {doing}: {type(exc).__name__}: {exc} (please report it)")

    def _error(self, topic: str, payload: bytes, reason: str) -> None:
        self.counters["errors"] += 1
        body = rejection(topic, payload, reason, self.counters["errors"], time.time())
        self.client.publish(f"{self.prefix}/errors", json.dumps(body), qos=0)

    def _publish_event(self, event: Event) -> None:
        self.counters[f"events_{event.kind}"] += 1
        topic, body = event_topic(self.prefix, event.kind, event.stream), json.dumps(event_body(event))
        info = self.client.publish(topic, body, qos=self.qos)
        if log.isEnabledFor(logging.DEBUG):  # (serve -v)
            log.debug("%s %s", topic, body)
        if self.qos:
            self.outbox.add(info)

    def stats(self) -> dict[str, Any]:
        """What ``.../stats`` says (schemas/stats.schema.json)."""
        return daemon_stats(self)

    def _publish_stats(self) -> None:
        stats = self.stats()
        self.client.publish(f"{self.prefix}/stats", json.dumps(stats), qos=0)
        if self.metrics is not None:
            self.metrics.update(stats)
        sd_notify("WATCHDOG=1")

    def request_stop(self, *_: Any) -> None:
        self.stopping.set()

    def run(self, handle_signals: bool = True) -> int:
        """Serve until SIGTERM/SIGINT (or :meth:`request_stop`); then finish the queue, checkpoint, say
        offline, return 0. ``handle_signals=False`` when run in a thread (the demo)."""
        if handle_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        log.info("serving %s on %s: samples from %s on %s, events to %s/{anomaly,forecast}/<stream>",
                 self.config["model"]["bundle"], self.model.backend, ", ".join(self.config["input"]["subscribe"]),
                 self.broker, self.prefix)
        # Everything alive now (modules, compiled kernels, the bank) lives as long as the daemon: keep it
        # out of the cyclic collector, whose full passes over it stalled the worker (sample-to-event p99
        # 103 -> 64 ms at 10,000 samples/s, docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        # The kernels are compiled: the compiler's code pages need not stay resident (RSS -70 MB).
        advised = page_out_compiler()
        if advised:
            log.info("compiler pages handed back to the kernel: %.0f MB", advised / 2**20)
        self.intake.open.set()
        self.connect()
        sd_notify("READY=1")
        every_stats, every_ckpt = self.config["stats"]["every_s"], self.config["state"]["checkpoint_every_s"]
        next_stats, next_ckpt = time.monotonic() + every_stats, time.monotonic() + every_ckpt
        while not self.stopping.is_set():
            if self.outbox.full():  # the broker is behind: let it catch up before making more events
                self.counters["outbox_waits"] += 1
                time.sleep(0.001)
            elif items := self.intake.drain(timeout=0.1):
                self.process(items)
            if self.rediscover.is_set():
                self.rediscover.clear()
                self._announce(list(self.registry.last))
            now = time.monotonic()
            if now >= next_stats:
                self._publish_stats()
                next_stats = now + every_stats
            if now >= next_ckpt:
                self.evict_idle(time.time())
                self.save_checkpoint()
                next_ckpt = now + every_ckpt
        return self.shutdown()

    def shutdown(self) -> int:
        sd_notify("STOPPING=1")
        self.intake.open.clear()
        while True:
            items = self.intake.drain(timeout=0.05)
            if not items:
                break
            self.process(items)
        for event in self.engine.flush():  # anomaly events held to tell operating changes from faults
            self._publish_event(event)
        self.save_checkpoint()
        self._publish_stats()
        info = self.client.publish(f"{self.prefix}/status", json.dumps({"state": "offline", "node": self.node}),
                                   qos=1, retain=True)
        if self.connected.is_set():
            try:
                info.wait_for_publish(timeout=5)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        log.info("stopped: %s", json.dumps(self.stats()))
        return 0
