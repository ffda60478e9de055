"""Scenarios: devices, channels, rates, faults, firmware quirks and payloads, read from TOML.

Errors name the key and the problem. Durations are seconds or strings such as ``"90s"``, ``"15m"``,
``"6h"``, ``"2d"``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from firmware_sim.faults import KINDS, Fault
from firmware_sim.signals import CHANNELS, Regime

BUILTIN = ("bearing-wear", "pump-cavitation", "sensor-faults", "fleet-1000", "demo-train")
MALFORMED_KINDS = ("truncated", "nan", "wrong_type", "oversize")
PAYLOAD_FORMATS = ("json", "number", "csv", "json-values")
MACHINE_CHANNELS = {
    "motor": ("vibration_rms", "bearing_temp", "motor_current"),
    "pump": ("vibration_rms", "bearing_temp", "motor_current", "pressure", "flow"),
    "fan": ("vibration_rms", "bearing_temp", "motor_current"),
}


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the key."""


@dataclass(frozen=True)
class Device:
    name: str
    kind: str
    channels: tuple[str, ...]
    rate_hz: float
    regime: Regime
    seed: int


@dataclass(frozen=True)
class Firmware:
    jitter_ms: float = 0.0
    loss: float = 0.0
    duplicates: float = 0.0
    reboot_every_s: float = 0.0
    reboot_gap_s: float = 5.0
    clock_skew_ppm: float = 0.0
    # After a reboot the node's clock starts at the epoch and counts up until it syncs (NTP) this long after the
    # boot; 0: it keeps time across reboots (a real-time clock)
    clock_sync_s: float = 0.0
    offline: tuple[tuple[float, float], ...] = ()
    malformed_count: int = 0
    malformed_mix: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Payload:
    format: str = "json"
    batch: int = 1
    qos: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    start: float  # epoch seconds
    duration_s: float
    devices: tuple[Device, ...]
    faults: tuple[Fault, ...]
    firmware: Firmware
    payload: Payload

    def with_duration(self, seconds: float) -> Scenario:
        from dataclasses import replace

        return replace(self, duration_s=seconds)


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any, key: str) -> float:
    """Seconds from a number or a string like ``"15m"``.

    >>> parse_duration("1h30m", "x"), parse_duration(90, "x")
    (5400.0, 90.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", value.strip())
        if parts and "".join(f"{n}{u}" for n, u in parts) == re.sub(r"\s+", "", value):
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise ScenarioError(f"{key}: expected a duration such as 90, \"90s\", \"15m\" or \"6h\", got {value!r}")


def _get(table: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ScenarioError(f"{where}.{key}: required")
        return default
    value = table[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ScenarioError(f"{where}.{key}: expected {names}, got {value!r}")
    return value


def _fraction(table: dict[str, Any], key: str, where: str) -> float:
    value = float(_get(table, key, where, (int, float), 0.0))
    if not 0.0 <= value < 1.0:
        raise ScenarioError(f"{where}.{key}: must be a fraction in [0, 1), got {value}")
    return value


def _devices(raw: list[Any], seed: int) -> tuple[Device, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError("devices: needs at least one [[devices]] table")
    devices = []
    for i, table in enumerate(raw):
        where = f"devices[{i}]"
        if not isinstance(table, dict):
            raise ScenarioError(f"{where}: must be a table")
        kind = _get(table, "kind", where, str, "motor")
        if kind not in MACHINE_CHANNELS:
            raise ScenarioError(f"{where}.kind: unknown machine {kind!r} (known: {', '.join(MACHINE_CHANNELS)})")
        channels = tuple(_get(table, "channels", where, list, list(MACHINE_CHANNELS[kind])))
        for c in channels:
            if c not in CHANNELS:
                raise ScenarioError(f"{where}.channels: unknown channel {c!r} (known: {', '.join(CHANNELS)})")
        rate = float(_get(table, "rate_hz", where, (int, float), 1.0))
        if not 0 < rate <= 1000:
            raise ScenarioError(f"{where}.rate_hz: must be in (0, 1000], got {rate}")
        count = _get(table, "count", where, int, 1)
        if count < 1:
            raise ScenarioError(f"{where}.count: must be at least 1")
        template = _get(table, "name", where, str, f"{kind}-{{i:03d}}" if count > 1 else kind)
        regime_table = _get(table, "regime", where, dict, {})
        regime = Regime(
            daily_amplitude=float(_get(regime_table, "daily_amplitude", f"{where}.regime", (int, float), 0.25)),
            step_every_s=parse_duration(regime_table.get("step_every", 1800), f"{where}.regime.step_every"),
            stop_every_s=parse_duration(regime_table.get("stop_every", 6 * 3600), f"{where}.regime.stop_every"),
            stop_for_s=parse_duration(regime_table.get("stop_for", 600), f"{where}.regime.stop_for"),
        )
        for n in range(count):
            try:
                name = template.format(i=n)
            except (KeyError, IndexError, ValueError):
                raise ScenarioError(f"{where}.name: bad template {template!r} (use {{i}} for the index)") from None
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ScenarioError(f"{where}.name: {name!r} may only hold letters, digits, '_', '.', '-'")
            devices.append(Device(name, kind, channels, rate, regime, seed * 1_000_003 + len(devices)))
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise ScenarioError("devices: device names must be unique")
    return tuple(devices)


def _faults(raw: list[Any], devices: tuple[Device, ...], seed: int, duration: float) -> tuple[Fault, ...]:
    by_name = {d.name: d for d in devices}
    faults = []
    for i, table in enumerate(raw):
        where = f"faults[{i}]"
        kind = _get(table, "kind", where, str)
        if kind not in KINDS:
            raise ScenarioError(f"{where}.kind: unknown fault {kind!r} (known: {', '.join(KINDS)})")
        device = _get(table, "device", where, str)
        if device not in by_name:
            raise ScenarioError(f"{where}.device: no device named {device!r}")
        channels = by_name[device].channels
        channel = _get(table, "channel", where, str, "vibration_rms" if "vibration_rms" in channels else channels[0])
        targets = channels if channel == "*" else (channel,)
        if channel != "*" and channel not in channels:
            raise ScenarioError(f"{where}.channel: device {device!r} has no channel {channel!r}")
        start = parse_duration(_get(table, "at", where, (int, float, str)), f"{where}.at")
        length = parse_duration(table.get("duration", "5s" if kind == "spike" else "10m"), f"{where}.duration")
        if start >= duration:
            raise ScenarioError(f"{where}.at: {start:.0f}s is after the scenario's end ({duration:.0f}s)")
        magnitude = table.get("magnitude")
        if magnitude is not None and not isinstance(magnitude, (int, float)):
            raise ScenarioError(f"{where}.magnitude: expected a number, got {magnitude!r}")
        for c in targets:
            faults.append(Fault(kind, device, c, start, length, magnitude, seed * 7919 + i))
    return tuple(faults)


def _firmware(table: dict[str, Any]) -> Firmware:
    where = "firmware"
    offline = []
    for j, window in enumerate(_get(table, "offline", where, list, [])):
        w = f"{where}.offline[{j}]"
        if not isinstance(window, dict):
            raise ScenarioError(f"{w}: must be a table {{at = ..., duration = ...}}")
        offline.append((parse_duration(window.get("at"), f"{w}.at"), parse_duration(window.get("duration"),
                                                                                    f"{w}.duration")))
    malformed = _get(table, "malformed", where, dict, {})
    count = _get(malformed, "count", f"{where}.malformed", int, 0)
    mix = _get(malformed, "mix", f"{where}.malformed", dict, {k: 1.0 for k in MALFORMED_KINDS})
    for k, v in mix.items():
        if k not in MALFORMED_KINDS:
            raise ScenarioError(f"{where}.malformed.mix: unknown kind {k!r} (known: {', '.join(MALFORMED_KINDS)})")
        if not isinstance(v, (int, float)) or v < 0:
            raise ScenarioError(f"{where}.malformed.mix.{k}: must be a non-negative number")
    if count < 0 or (count and not sum(mix.values())):
        raise ScenarioError(f"{where}.malformed: count must be >= 0 and the mix must not be all zero")
    return Firmware(
        jitter_ms=float(_get(table, "jitter_ms", where, (int, float), 0.0)),
        loss=_fraction(table, "loss", where),
        duplicates=_fraction(table, "duplicates", where),
        reboot_every_s=parse_duration(table.get("reboot_every", 0), f"{where}.reboot_every"),
        reboot_gap_s=parse_duration(table.get("reboot_gap", 5), f"{where}.reboot_gap"),
        clock_skew_ppm=float(_get(table, "clock_skew_ppm", where, (int, float), 0.0)),
        clock_sync_s=parse_duration(table.get("clock_sync", 0), f"{where}.clock_sync"),
        offline=tuple(offline),
        malformed_count=count,
        malformed_mix={k: float(v) for k, v in mix.items()},
    )


def from_dict(raw: dict[str, Any], name: str = "scenario") -> Scenario:
    """Validate a parsed TOML document into a :class:`Scenario`."""
    seed = _get(raw, "seed", name, int, 0)
    start_text = _get(raw, "start", name, str, "2024-01-01T00:00:00Z")
    try:
        start = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"start: expected an ISO-8601 time, got {start_text!r}") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    duration = parse_duration(raw.get("duration", "1h"), "duration")
    if duration <= 0:
        raise ScenarioError("duration: must be positive")
    devices = _devices(raw.get("devices"), seed)
    payload_table = _get(raw, "payload", name, dict, {})
    fmt = _get(payload_table, "format", "payload", str, "json")
    if fmt not in PAYLOAD_FORMATS:
        raise ScenarioError(f"payload.format: unknown {fmt!r} (known: {', '.join(PAYLOAD_FORMATS)})")
    batch = _get(payload_table, "batch", "payload", int, 1)
    qos = _get(payload_table, "qos", "payload", int, 1)
    if batch < 1 or qos not in (0, 1):
        raise ScenarioError("payload: batch must be >= 1 and qos 0 or 1")
    if fmt != "json" and batch > 1:
        raise ScenarioError("payload.batch: batching (a JSON array per message) needs format = \"json\"")
    known = {"name", "description", "seed", "start", "duration", "devices", "faults", "firmware", "payload"}
    unknown = set(raw) - known
    if unknown:
        raise ScenarioError(f"unknown key(s) {sorted(unknown)} (known: {sorted(known)})")
    return Scenario(
        name=_get(raw, "name", name, str, name),
        description=_get(raw, "description", name, str, ""),
        seed=seed,
        start=start.timestamp(),
        duration_s=duration,
        devices=devices,
        faults=_faults(_get(raw, "faults", name, list, []), devices, seed, duration),
        firmware=_firmware(_get(raw, "firmware", name, dict, {})),
        payload=Payload(fmt, batch, qos),
    )


def builtin_text(name: str) -> str:
    if name not in BUILTIN:
        raise ScenarioError(f"no built-in scenario {name!r} (built-in: {', '.join(BUILTIN)})")
    return resources.files("firmware_sim.scenarios").joinpath(f"{name}.toml").read_text(encoding="utf-8")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A built-in scenario by name, or a TOML file by path."""
    path = Path(name_or_path)
    if str(name_or_path) in BUILTIN and not path.exists():
        text, label = builtin_text(str(name_or_path)), str(name_or_path)
    else:
        try:
            text, label = path.read_text(encoding="utf-8"), path.stem
        except OSError as exc:
            raise ScenarioError(f"{path}: cannot read ({exc.strerror}); built-in: {', '.join(BUILTIN)}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{name_or_path}: not valid TOML ({exc})") from None
    return from_dict(raw, label)
