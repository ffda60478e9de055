"""Parsing MQTT sensor payloads into samples, or a reason they were rejected. Pure; no I/O.

Accepted (UTF-8):

- a bare number: ``"21.5"`` (timestamped on arrival);
- JSON ``{"ts": <epoch seconds | ISO-8601>, "value": x}`` or ``{"ts": ..., "values": [x, ...]}``
  (extra keys such as ``seq`` are ignored; ``ts`` may be omitted: arrival time);
- a JSON array of such objects (a batch);
- CSV ``ts,value[,value...]`` (one line, or several).

>>> parse(b'{"ts": 1700000000, "value": 1.5}', arrival=0.0, features=1)
[Sample(ts=1700000000.0, values=(1.5,))]
>>> parse(b"2.5", arrival=17.0, features=1)
[Sample(ts=17.0, values=(2.5,))]
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from edge_lstm.stream.sample import Sample

DEFAULT_MAX_BYTES = 64 * 1024
FLOAT32_MAX = 3.4028234663852886e38  # the model computes in float32: a larger magnitude would become infinity
MAX_BATCH = 10_000
MAX_INT_DIGITS = 40  # a JSON integer longer than this is beyond float32 (39 digits) and is refused unread


class PayloadError(ValueError):
    """The payload is not a valid sample message; the message says why."""


def _brief(value: Any) -> str:
    """A short description of a JSON value for an error (never the whole of a deep or long one)."""
    if isinstance(value, (list, dict)):
        return f"{'an array' if isinstance(value, list) else 'an object'} of {len(value)} item(s)"
    if isinstance(value, str):
        return f"str {value[:40]!r}"
    return f"{type(value).__name__} {value!r}"[:60]


def number(value: Any, what: str) -> float:
    """``value`` as a measurement the model can take (a number, or a number sent as a string), or
    :class:`PayloadError` naming ``what`` and why not (not a number, NaN or infinite, beyond float32)."""
    if type(value) is float and -FLOAT32_MAX <= value <= FLOAT32_MAX:  # the common case, first
        return value
    text = value if isinstance(value, str) else None
    if text is not None and is_number(text):  # a number sent as a string ("23.5"), as some firmware does
        value = float(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PayloadError(f"{what} must be a number, got {_brief(value)}")
    too_large = f"beyond the float32 range the model computes in (±{FLOAT32_MAX:.2g})"
    try:
        x = float(value)
    except OverflowError:  # an integer beyond any float
        raise PayloadError(f"{what} is an integer of {value.bit_length()} bits: {too_large}") from None
    if math.isinf(x) and text is not None and "inf" not in text.lower():  # ("1e999", or 400 digits)
        raise PayloadError(f"{what} {text[:20]!r}... is {too_large}")
    if not math.isfinite(x):
        raise PayloadError(f"{what} is {value!r}: NaN and infinity are not measurements")
    if abs(x) > FLOAT32_MAX:
        raise PayloadError(f"{what} is {x:g}: {too_large}")
    return x


def parse_ts(value: Any, arrival: float) -> float:
    """Epoch seconds from a number (seconds; milliseconds above 1e11, microseconds above 1e14, nanoseconds above
    1e17: each is after 1973 in its unit, and seconds that large are after the year 5000) or an ISO-8601 string."""
    if type(value) is float and 0 <= value <= 1e11:  # epoch seconds, the common case
        return value
    if value is None:
        return arrival
    if isinstance(value, str) and not is_number(value):  # (epoch time sent as a string: number reads it)
        return _iso_ts(value)
    ts = number(value, "ts")
    for _ in range(3):  # milliseconds, microseconds, nanoseconds since the epoch
        if ts <= 1e11:
            break
        ts /= 1000.0
    if ts < 0:
        raise PayloadError(f"ts {value!r} is negative")
    if ts > 1e11:  # (even in nanoseconds, after the year 5000: no clock stamps such a time, and no date holds it)
        raise PayloadError(f"ts {_brief(value)} is after the year 5000 in seconds, milli-, micro- and nanoseconds")
    return ts


def cell_ts(cell: str, arrival: float) -> float:
    """A CSV cell's time: :func:`parse_ts` of the number it holds (epoch seconds or a finer unit), else of the
    text (ISO-8601).

    >>> cell_ts("1700000000", 0.0), cell_ts("2014-04-01 00:05:00", 0.0)
    (1700000000.0, 1396310700.0)
    """
    return parse_ts(float(cell) if is_number(cell) else cell, arrival)


def _iso_ts(value: str) -> float:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PayloadError(f"ts {value[:40]!r} is neither epoch seconds nor ISO-8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        ts = moment.timestamp()
    except (OverflowError, ValueError):  # (the year 1 or 9999 shifted by its offset out of range)
        raise PayloadError(f"ts {value[:40]!r} is out of range") from None
    if ts < 0:
        raise PayloadError(f"ts {value[:40]!r} is before 1970")
    return ts


def _json_int(digits: str) -> int:
    """``json.loads``' reader of integers: one longer than any float32 is refused before Python converts it
    (a 4,301-digit integer raises ValueError there, and a long one costs quadratic time)."""
    length = len(digits.lstrip("-"))
    if length > MAX_INT_DIGITS:
        raise PayloadError(f"an integer of {length} digits is beyond the float32 range the model computes in "
                           f"(±{FLOAT32_MAX:.2g})")
    return int(digits)


def _from_object(obj: Any, arrival: float, features: int) -> Sample:
    if not isinstance(obj, dict):
        raise PayloadError(f"expected a JSON object, got {type(obj).__name__}")
    if "values" in obj:
        raw = obj["values"]
        if not isinstance(raw, list):
            raise PayloadError(f"values must be a list, got {type(raw).__name__}")
        values = tuple(number(v, f"values[{i}]") for i, v in enumerate(raw))
    elif "value" in obj:
        values = (number(obj["value"], "value"),)
    else:
        raise PayloadError("the object has neither 'value' nor 'values'")
    if len(values) != features:
        raise PayloadError(f"{len(values)} value(s) per sample, the model expects {features}")
    return Sample(parse_ts(obj.get("ts"), arrival), values)


def _from_csv(text: str, arrival: float, features: int) -> list[Sample]:
    samples = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != features + 1:
            raise PayloadError(f"CSV line {line[:40]!r}: expected ts and {features} value(s)")
        try:
            ts = cell_ts(cells[0], arrival)
            values = tuple(number(float(c), "value") for c in cells[1:])
        except ValueError as exc:
            raise PayloadError(f"CSV line {line[:40]!r}: {exc}") from None
        samples.append(Sample(ts, values))
    return samples


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def parse(payload: bytes, arrival: float, features: int, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Sample]:
    """The samples in ``payload``, or :class:`PayloadError` with the reason it was rejected."""
    if len(payload) > max_bytes:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds the {max_bytes}-byte limit")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise PayloadError("payload is not UTF-8 text") from None
    if not text:
        raise PayloadError("empty payload")
    if text[0] in "[{":
        try:
            doc = json.loads(text, parse_constant=lambda c: float("nan"), parse_int=_json_int)
        except json.JSONDecodeError as exc:
            raise PayloadError(f"invalid JSON ({exc.msg} at character {exc.pos})") from None
        except RecursionError:  # ("[[[[...": the decoder recurses once per level)
            raise PayloadError("JSON nested too deeply (a sample is an object or an array of objects)") from None
        if isinstance(doc, list):
            if not doc:
                raise PayloadError("empty JSON array")
            if len(doc) > MAX_BATCH:
                raise PayloadError(f"batch of {len(doc)} samples exceeds {MAX_BATCH}")
            samples = [_from_object(o, arrival, features) for o in doc]
            if len(doc) > 1 and any(o.get("ts") is None for o in doc):  # (each is an object by now)
                raise PayloadError("a batch needs each sample's ts: stamped with the arrival time, all but the "
                                   "first would be dropped as repeats")
            return samples
        return [_from_object(doc, arrival, features)]
    if "," in text:
        return _from_csv(text, arrival, features)
    if features != 1:
        raise PayloadError(f"a bare number carries one value, the model expects {features}")
    try:
        value = float(text)
    except ValueError:
        raise PayloadError(f"not a number, JSON or CSV: {text[:40]!r}") from None
    return [Sample(arrival, (number(value, "value"),))]
