"""deploy/telegraf.conf against the events the engine makes: read as Telegraf's JSON parser reads them (numbers
become fields, arrays flatten to key_0, strings only as tags or listed string fields, the time from
json_time_key), every event keeps the flat numeric fields and the time a time-series store needs."""

from __future__ import annotations

import math
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

import edge_lstm
from edge_lstm.detect.config import DetectorConfig
from edge_lstm.serve.config import SCHEMA, host_node_id
from edge_lstm.serve.payloads import Sample
from edge_lstm.serve.topics import event_topic, stream_name
from edge_lstm.serve.wire import event_body
from edge_lstm.stream.engine import Engine, EngineConfig
from tests.support.bundles import lstm_model, random_bundle

CONF = Path(__file__).resolve().parents[2] / "deploy" / "telegraf.conf"


def _consumer() -> dict[str, Any]:
    (consumer,) = tomllib.loads(CONF.read_text())["inputs"]["mqtt_consumer"]
    return consumer


def _fields(body: Any, key: str = "") -> dict[str, float]:
    """Telegraf's legacy JSON parser: numbers (not booleans) become float fields; objects and arrays flatten."""
    if isinstance(body, dict):
        named = {f"{key}_{name}" if key else name: value for name, value in body.items()}
        return {k: v for name, value in named.items() for k, v in _fields(value, name).items()}
    if isinstance(body, list):
        return {k: v for i, value in enumerate(body) for k, v in _fields(value, f"{key}_{i}").items()}
    if isinstance(body, (int, float)) and not isinstance(body, bool):
        return {key: float(body)}
    return {}


def _subscribed(topic_filter: str, topic: str) -> bool:
    """MQTT's topic-filter match: ``+`` one level, a final ``#`` any number."""
    filters, levels = topic_filter.split("/"), topic.split("/")
    if filters[-1] == "#":
        filters, levels = filters[:-1], levels[:len(filters) - 1]
    elif len(filters) != len(levels):
        return False
    return len(filters) == len(levels) and all(f in ("+", level) for f, level in zip(filters, levels, strict=True))


def _level_match(pattern: str, topic: str) -> dict[str, str]:
    """What a topic_parsing pattern names in a topic it matches ({} when it does not)."""
    pattern_levels, levels = pattern.split("/"), topic.split("/")
    if len(pattern_levels) != len(levels):
        return {}
    return {name: level for name, level in zip(pattern_levels, levels, strict=True) if name != "_"}


def _events() -> list:
    """Anomaly (open and close) and forecast events of a stream through the engine."""
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")
    engine = Engine(model, EngineConfig(forecast_every=1, detector=DetectorConfig(warmup=20)))
    stream = stream_name(SCHEMA["input"]["stream"].default, "sensors/pump-7/pressure")
    values = [math.sin(t / 5) for t in range(400)]
    values[300] = 40.0
    events = engine.process([(stream, Sample(1.7e9 + t + 0.25, (v,))) for t, v in enumerate(values)])
    return events + engine.flush()


def test_every_event_reads_as_one_metric_with_its_numbers_its_tags_and_the_sample_time():
    consumer = _consumer()
    assert consumer["data_format"] == "json" and consumer["json_time_format"] == "unix_ms"
    events = _events()
    kinds = {event.kind for event in events}
    states = {event_body(event).get("state") for event in events if event.kind == "anomaly"}
    assert kinds == {"anomaly", "forecast"} and states == {"open", "closed"}, (kinds, states)
    (parsing,) = consumer["topic_parsing"]
    for event in events:
        topic = event_topic(f"edge-lstm/{host_node_id()}", event.kind, event.stream)
        assert sum(_subscribed(f, topic) for f in consumer["topics"]) == 1, topic
        assert _subscribed(parsing["topic"], topic), topic
        assert _level_match(parsing["measurement"], topic) == {"measurement": event.kind}
        assert _level_match(parsing["tags"], topic) == {"node": host_node_id(), "device": "pump-7",
                                                         "channel": "pressure"}
        fields = _fields(event_body(event))
        time_ms = event_body(event)[consumer["json_time_key"]]
        assert isinstance(time_ms, int) and time_ms == round(event_body(event)["ts"] * 1000)
        assert datetime.fromisoformat(event_body(event)["time"]).timestamp() == time_ms / 1000
        for tag in consumer["tag_keys"]:
            assert tag not in event_body(event) or isinstance(event_body(event)[tag], str), tag
        assert isinstance(event_body(event)["stream"], str)
        if event.kind == "anomaly":
            assert fields["is_anomaly"] == (1.0 if event_body(event)["state"] == "open" else 0.0)
            assert {"score", "peak_score", "z", "value", "expected", "residual"} <= set(fields)
        else:
            steps = event_body(event)["horizon"]
            assert {f"{k}_{i}" for k in ("values", "lower", "upper") for i in range(steps)} <= set(fields)
            assert all(np.isfinite(list(fields.values())))
