"""``edge-lstm serve`` configuration: a TOML file, flags on top, validated at start.

Every key can be given as ``--set section.key=value``; the common ones have their own flags.
Errors name the key and the problem.
"""

from __future__ import annotations

import difflib
import json
import re
import socket
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edge_lstm.detect.config import DetectorConfig
from edge_lstm.detect.operating import OperatingConfig
from edge_lstm.detect.relations import RelationConfig
from edge_lstm.serve.broker import parse_broker_url
from edge_lstm.settings import non_negative, one_of, positive
from edge_lstm.stream.engine import EngineConfig


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class Key:
    kind: type | tuple[type, ...]
    default: Any
    check: Callable[[Any], str | None] | None = None  # returns a problem, or None
    help: str = ""


def keys_of(settings: type, section: str = "") -> dict[str, Key]:
    """The configuration keys a settings dataclass declares (:func:`edge_lstm.settings.setting`), those of table
    ``section`` where its fields name one: float fields take integers too."""
    kinds = {"int": int, "float": (int, float), "str": str}
    return {f.metadata.get("key") or f.name: Key(kinds[f.type], f.default, f.metadata.get("check"),
                                                 f.metadata.get("help", ""))
            for f in _toml_fields(settings, section)}


def _toml_fields(settings: type, section: str = "") -> list:
    return [f for f in fields(settings) if f.metadata.get("toml", True) and f.metadata.get("section", "") == section]


def _broker(v: str) -> str | None:
    try:
        parse_broker_url(v)
    except ValueError as exc:
        return str(exc)
    return None


def _template(v: str) -> str | None:
    """A stream or channel template: text and topic levels as ``{N}``, nothing else (no attribute, index,
    conversion or format spec: ``{0:>999999999}`` would build a gigabyte string from every topic)."""
    try:
        fields = [f for f in string.Formatter().parse(v) if f[1] is not None]
    except ValueError as exc:
        return f"is not a valid template ({exc})"
    if not fields:
        return "must name at least one topic level, as {1}"
    for _, name, spec, conversion in fields:
        if not (name.isascii() and name.isdigit()) or spec or conversion:
            return "may hold topic levels only as {N} (N = 0 for the first level)"
    return None


def _topics(v: list) -> str | None:
    if not v or not all(isinstance(t, str) and t for t in v):
        return "must be a non-empty list of topic filters"
    return None


SCHEMA: dict[str, dict[str, Key]] = {
    "model": {
        "bundle": Key(str, None, help="bundle directory (required)"),
        "backend": Key(str, "numba-f32", help="step kernel"),
    },
    "mqtt": {
        "broker": Key(str, "mqtt://localhost:1883", _broker, "mqtt[s]://[user:pass@]host:port"),
        "protocol": Key(str, "5", one_of("5", "3.1.1"), "MQTT version"),
        "node_id": Key(str, "", lambda v: None if "/" not in v and "+" not in v and "#" not in v
                       else "must not hold '/', '+' or '#'", "names this daemon's topics (default: the host name)"),
        "client_id": Key(str, "", help="MQTT client id (default: edge-lstm-<node_id>)"),
        "keepalive": Key(int, 30, positive, "seconds"),
        "session_expiry": Key(int, 7 * 86400, non_negative, "seconds the broker keeps the session while away"),
        "qos": Key(int, 1, one_of(0, 1), "subscription and event QoS"),
        "ca_file": Key(str, "", help="CA certificate (mqtts)"),
        "cert_file": Key(str, "", help="client certificate (mqtts)"),
        "key_file": Key(str, "", help="client key (mqtts)"),
        "reconnect_min_s": Key((int, float), 1, positive),
        "reconnect_max_s": Key((int, float), 60, positive),
    },
    "input": {
        "subscribe": Key(list, ["sensors/+/+"], _topics, "topic filters"),
        "stream": Key(str, "{1}/{2}", _template, "stream id from topic levels: {0} is the first level"),
        "features": Key(list, [], lambda v: None if all(isinstance(f, str) and f for f in v) and len(set(v)) == len(v)
                        else "must list distinct channel names", "channels assembled into one multi-feature "
                        "sample per stream (first = clock); empty: payloads carry all features"),
        "feature": Key(str, "{2}", _template, "channel name from topic levels, with input.features"),
        "max_payload_bytes": Key(int, 65536, positive),
        "max_streams": Key(int, 10_000, non_negative, "streams the daemon keeps (about 8 KB each); a new one beyond "
                           "it takes the place of the least recently heard from (evicted); 0: no limit"),
        "evict_after_s": Key((int, float), 7 * 86400, non_negative, "a stream silent for longer is evicted: all "
                             "its state is dropped, and it starts afresh if it comes back (0: never)"),
        **keys_of(EngineConfig, "input"),  # (declared on the dataclass: edge_lstm/stream/config.py)
        "standardise": Key(int, -1, lambda v: None if v >= -1 else "must be -1 (the bundle's), 0 (off) or N",
                           "scale each stream by its first N samples (-1: as the bundle says; 0: off)"),
    },
    "processing": {
        "queue_size": Key(int, 100_000, positive),
        "batch_max": Key(int, 10_000, positive, "messages drained per pass"),
        "batch_bytes": Key(int, 1 << 20, positive, "payload bytes drained per pass (at least one message): "
                           "bounds the memory a pass of large batched payloads takes"),
        "overload": Key(str, "drop_oldest", one_of("drop_oldest", "drop_newest")),
        "max_unacked": Key(int, 2000, positive, "events published at QoS 1 and not yet acknowledged by the "
                           "broker; above it the worker waits (bounds memory while the broker is slow)"),
        "ack_timeout_s": Key((int, float), 10, positive, "an event not acknowledged within this is no longer "
                             "waited for (counted in unconfirmed_events; paho resends it after a reconnect)"),
    },
    # (declared on the dataclasses: edge_lstm/detect/config.py, operating.py, relations.py)
    "anomaly": {**keys_of(DetectorConfig), **keys_of(OperatingConfig, "anomaly"), **keys_of(RelationConfig, "anomaly")},
    "forecast": keys_of(EngineConfig, "forecast"),
    "state": {
        "checkpoint": Key(str, "", help="checkpoint file (empty: no checkpoints)"),
        "checkpoint_every_s": Key((int, float), 60, positive),
    },
    "stats": {
        "every_s": Key((int, float), 5, positive),
        "metrics_port": Key(int, 0, lambda v: None if 0 <= v <= 65535 else "must be a port number (0: off)"),
    },
    "amqp": {
        "url": Key(str, "", lambda v: None if not v or v.startswith(("amqp://", "amqps://")) else
                   "must be amqp[s]://user:pass@host:port/vhost", "shard streams over workers through RabbitMQ "
                   "(docs/scaling.md): amqp[s]://user:pass@host:port/vhost; empty: one daemon on mqtt.broker"),
        "shards": Key(int, 16, positive, "shard queues the streams are hashed over (the same on every worker; "
                      "changing it moves streams between shards, and their state with them)"),
        "workers": Key(int, 1, positive, "workers sharing the shards"),
        "index": Key(int, 0, non_negative, "this worker's index, 0 .. workers-1: it holds shards index, "
                     "index + workers, ... while it runs"),
        "standby_after_s": Key((int, float), 2, non_negative, "seconds before the worker also registers as the "
                               "standby of the other workers' shards"),
        "snapshot_every_s": Key((int, float), 1, positive, "seconds between a shard's snapshots (and "
                                "acknowledgements): what a worker that dies leaves to replay"),
        "prefetch": Key(int, 2000, positive, "deliveries a shard may have unacknowledged (a snapshot is taken "
                        "at half of it)"),
        "prefix": Key(str, "edge-lstm", lambda v: None if v and "/" not in v else "must be a name without '/'",
                      "names the exchange and queues: <prefix>.shards, <prefix>.shard.<k>, <prefix>.state.<k>"),
    },
    "homeassistant": {
        "discovery": Key(bool, False, help="publish Home Assistant MQTT discovery configs: per stream a problem "
                         "binary_sensor, its anomaly score and its forecast, under a device per sensor device"),
        "prefix": Key(str, "homeassistant", lambda v: None if v and "+" not in v and "#" not in v else
                      "must be a topic prefix without wildcards", "Home Assistant's discovery prefix"),
    },
}

FLAG_KEYS = {"bundle": "model.bundle", "backend": "model.backend", "broker": "mqtt.broker",
             "subscribe": "input.subscribe", "node_id": "mqtt.node_id", "checkpoint": "state.checkpoint",
             "metrics_port": "stats.metrics_port", "amqp": "amqp.url"}


def _coerce(text: str, key: Key, name: str) -> Any:
    kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
    if list in kinds:
        return [t.strip() for t in text.split(",") if t.strip()]
    if bool in kinds:
        words = {**dict.fromkeys(("true", "yes", "on", "1"), True), **dict.fromkeys(("false", "no", "off", "0"), False)}
        if text.strip().lower() in words:
            return words[text.strip().lower()]
        raise ConfigError(f"{name}: cannot read {text!r} as true or false")
    for kind in kinds:
        try:
            return kind(text) if kind is not str else text
        except ValueError:
            continue
    raise ConfigError(f"{name}: cannot read {text!r} as {' or '.join(k.__name__ for k in kinds)}")


def _validate(section: str, table: dict[str, Any], keys: dict[str, Key] | None = None) -> None:
    for k, key in (keys or SCHEMA[section]).items():
        value, name = table[k], f"{section}.{k}"
        if value is None:
            raise ConfigError(f"{name}: required ({key.help})")
        kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise ConfigError(f"{name}: expected {' or '.join(k.__name__ for k in kinds)}, got {value!r}")
        problem = key.check(value) if key.check else None
        if problem:
            raise ConfigError(f"{name}: {problem}, got {value!r}")


def host_node_id() -> str:
    """This machine's host name as a node id (``/``, ``+``, ``#`` and spaces made ``-``): each gateway's events
    land under its own name without configuring one."""
    name = re.sub(r"[/+#\s]", "-", socket.gethostname().strip())
    return name or "edge-lstm"


def example_toml() -> str:
    """Every key of the configuration file with its default and help, as TOML (``serve --print-config``)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, list):
            return "[" + ", ".join(json.dumps(x) for x in v) + "]"
        return json.dumps(v) if isinstance(v, str) else repr(v)

    lines = ["# edge-lstm serve: every key with its default (edge-lstm serve --print-config > edge-lstm.toml)"]
    for section, keys in SCHEMA.items():
        lines.append(f"\n[{section}]")
        for name, key in keys.items():
            comment = f"  # {key.help}" if key.help else ""
            lines.append(f"# {name} = ...{comment}" if key.default is None
                         else f"{name} = {value(key.default)}{comment}")
    return "\n".join(lines) + "\n"


def suggest(key: str, section: str | None = None) -> str:
    """``; did you mean anomaly.threshold?`` for a key given without its section, in another section, or
    misspelt; else nothing.

    >>> suggest("threshold"), suggest("anomaly.treshold"), suggest("input.qos")
    ('; did you mean anomaly.threshold?', '; did you mean anomaly.threshold?', '; did you mean mqtt.qos?')
    """
    name = key.rpartition(".")[2]
    everywhere = [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys]
    exact = [d for d in everywhere if d.endswith(f".{name}") and (section is None or d.startswith(f"{section}."))]
    close = exact or difflib.get_close_matches(key if "." in key else f"{section or 'anomaly'}.{key}", everywhere,
                                               n=1, cutoff=0.8)
    return f"; did you mean {close[0]}?" if close else ""


def _settings(settings: type, table: dict[str, Any], section: str = "") -> Any:
    """A settings dataclass from the keys it declares of a validated table."""
    return settings(**{f.name: table[f.metadata.get("key") or f.name] for f in _toml_fields(settings, section)})


def _anomaly(table: dict[str, Any]) -> dict[str, Any]:
    """The engine's settings held in a validated ``[anomaly]`` table, with the checks across its keys."""
    try:
        return {"detector": _settings(DetectorConfig, table), "operating": _settings(OperatingConfig, table, "anomaly"),
                "relation": _settings(RelationConfig, table, "anomaly")}
    except ValueError as exc:
        raise ConfigError(f"anomaly.{exc}") from None


def settings_config(items: list[str], **direct: Any) -> EngineConfig:
    """An :class:`EngineConfig` from the defaults and ``SECTION.KEY=VALUE`` items of the tables it is made of
    (``[anomaly]``, whose section may be left out; ``[forecast]``; the engine's keys of ``[input]``), validated;
    ``direct``: fields given as they are (not keys of the file).

    >>> settings_config(["threshold=4", "forecast.fallback=0"], gap_s=60.0).detector.threshold
    4
    """
    schema = {"anomaly": SCHEMA["anomaly"], "forecast": SCHEMA["forecast"], "input": keys_of(EngineConfig, "input")}
    config = {section: {k: key.default for k, key in keys.items()} for section, keys in schema.items()}
    for item in items:
        dotted, value = _split(item)
        section, _, k = dotted.rpartition(".")
        section = section or "anomaly"
        if section not in schema or k not in schema[section]:
            known = ", ".join(f"{s}.{name}" for s, keys in schema.items() for name in keys) if section not in schema \
                else ", ".join(schema[section])
            raise ConfigError(f"{section}.{k}: unknown key{suggest(k, section)} (known: {known})")
        config[section][k] = _coerce(value, schema[section][k], f"{section}.{k}")
    for section in schema:
        _validate(section, config[section], schema[section])
    return _engine(config, **direct)


def _split(item: str) -> tuple[str, str]:
    k, sep, value = item.partition("=")
    if not sep:
        raise ConfigError(f"{item!r}: expected KEY=VALUE")
    return k.strip(), value.strip()


def engine_config(config: dict[str, dict[str, Any]], bundle_standardise: int = 0,
                  bundle_difference: bool = False) -> EngineConfig:
    """The engine settings of a validated configuration (``input.standardise = -1``: the bundle's; a bundle
    whose model forecasts changes, ``bundle_difference``, needs a scaling)."""
    standardise = config["input"]["standardise"]
    standardise = bundle_standardise if standardise == -1 else standardise
    if bundle_difference and not standardise:
        raise ConfigError("input.standardise: the bundle's model sees changes over the spread of a stream's first "
                          "N samples (edge-lstm train --difference): it must not be 0")
    return _engine(config, standardise=standardise, difference=bundle_difference)


def _engine(config: dict[str, dict[str, Any]], **direct: Any) -> EngineConfig:
    """The engine's fields from their tables of a validated configuration, ``direct`` as given."""
    tables = {f.name: config[f.metadata["section"]][f.metadata.get("key") or f.name]
              for section in ("forecast", "input") for f in _toml_fields(EngineConfig, section)}
    return EngineConfig(**{**tables, **direct}, **_anomaly(config["anomaly"]))


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Defaults, then the TOML file, then ``overrides`` (``{"section.key": value}``); validated."""
    raw: dict[str, Any] = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    config = {section: {k: key.default for k, key in keys.items()} for section, keys in SCHEMA.items()}
    for section, table in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"{section}: unknown section (known: {', '.join(SCHEMA)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: must be a table")
        for k, v in table.items():
            if k not in SCHEMA[section]:
                raise ConfigError(f"{section}.{k}: unknown key{suggest(f'{section}.{k}')} "
                                  f"(known: {', '.join(SCHEMA[section])})")
            config[section][k] = v
    for dotted, value in (overrides or {}).items():
        section, _, k = dotted.partition(".")
        if section not in SCHEMA or k not in SCHEMA[section]:
            raise ConfigError(f"{dotted}: unknown key{suggest(dotted)}")
        key = SCHEMA[section][k]
        config[section][k] = _coerce(value, key, dotted) if isinstance(value, str) else value
    for section in SCHEMA:
        _validate(section, config[section])
    if not config["mqtt"]["node_id"]:
        config["mqtt"]["node_id"] = host_node_id()
    if config["mqtt"]["reconnect_max_s"] < config["mqtt"]["reconnect_min_s"]:
        raise ConfigError("mqtt.reconnect_max_s: must not be below mqtt.reconnect_min_s")
    _anomaly(config["anomaly"])  # the checks across [anomaly] keys, at start
    if not Path(config["model"]["bundle"]).is_dir():
        raise ConfigError(f"model.bundle: {config['model']['bundle']!r} is not a bundle directory")
    return config
