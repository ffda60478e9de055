"""Payloads: what is accepted, and the reason for what is not."""

from __future__ import annotations

import pytest

from edge_lstm.serve.payloads import PayloadError, Sample, parse


@pytest.mark.parametrize(("payload", "expected"), [
    (b"3.5", [Sample(9.0, (3.5,))]),
    (b'{"ts": 100, "value": 2}', [Sample(100.0, (2.0,))]),
    (b'{"ts": 1700000000123, "value": 2}', [Sample(1700000000.123, (2.0,))]),
    (b'{"ts": "2024-01-01T00:00:01Z", "value": 2}', [Sample(1704067201.0, (2.0,))]),
    (b'{"value": 2, "seq": 4}', [Sample(9.0, (2.0,))]),
    (b'{"ts": "100", "value": "2.5"}', [Sample(100.0, (2.5,))]),  # numbers sent as strings
    (b'[{"ts": 1, "value": 1}, {"ts": 2, "value": 2}]', [Sample(1.0, (1.0,)), Sample(2.0, (2.0,))]),
    (b"5,1.25", [Sample(5.0, (1.25,))]),
    (b"2024-01-01 00:00:00,1.5\n2024-01-01 00:00:01,1.75", [Sample(1704067200.0, (1.5,)),
                                                            Sample(1704067201.0, (1.75,))]),
])
def test_accepted_payloads(payload, expected):
    assert parse(payload, arrival=9.0, features=1) == expected


def test_epoch_stamps_in_milli_micro_and_nanoseconds():
    """Firmware stamps in whatever unit its SDK uses; each unit's values since 1973 are told apart by size."""
    for stamp in (b"1700000000.25", b"1700000000250", b"1700000000250000", b"1700000000250000000"):
        [sample] = parse(b'{"ts": ' + stamp + b', "value": 1}', arrival=0.0, features=1)
        assert sample.ts == pytest.approx(1700000000.25, abs=1e-6)
        [sample] = parse(stamp + b",1", arrival=0.0, features=1)  # CSV
        assert sample.ts == pytest.approx(1700000000.25, abs=1e-6)


def test_values_payload_for_multi_feature_models():
    assert parse(b'{"ts": 1, "values": [1, 2, 3]}', 0.0, features=3) == [Sample(1.0, (1.0, 2.0, 3.0))]


@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"ts": 1, "val', "invalid JSON"),
    (b'{"ts": 1, "value": NaN}', "NaN"),
    (b'{"ts": 1, "value": Infinity}', "NaN and infinity"),
    (b"inf", "NaN and infinity"),
    # Finite, but infinity in the float32 the model computes in:
    (b'{"ts": 1, "value": 1e39}', "value is 1e+39: beyond the float32 range"),
    (b"-3.5e38", "beyond the float32 range"),
    (b'{"ts": 1, "value": 1' + b"0" * 400 + b"}", "an integer of 401 digits is beyond the float32 range"),
    # Each of these stopped the daemon (RecursionError; ValueError past Python's 4,300 digits):
    (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
    (b'{"value": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested too deeply"),
    (b'{"value": ' + b"[" * 500 + b"]" * 500 + b"}", "must be a number, got an array of 1 item(s)"),
    (b'{"ts": 1, "value": ' + b"7" * 4301 + b"}", "an integer of 4301 digits"),
    (b'{"ts": ' + b"7" * 4301 + b', "value": 1}', "an integer of 4301 digits"),
    (b'{"ts": 1, "value": "' + b"7" * 4301 + b'"}', "is beyond the float32 range"),
    (b'{"ts": "0001-01-01T00:00:00+01:00", "value": 1}', "before 1970"),
    # A stamp beyond every unit passed, and stopped the event it made from being published (no date holds it):
    (b'{"ts": 3618063568078036005688442880, "value": 1}', "after the year 5000"),
    (b"3618063568078036005688442880,1", "after the year 5000"),
    (b'{"ts": 1, "value": "high"}', "must be a number, got str"),
    (b'{"ts": 1, "value": "NaN"}', "NaN and infinity"),
    (b'{"ts": 1, "value": true}', "must be a number, got bool"),
    (b'{"ts": 1}', "neither 'value' nor 'values'"),
    (b'{"ts": 1, "values": [1, 2]}', "2 value(s) per sample, the model expects 1"),
    (b'{"ts": "yesterday", "value": 1}', "neither epoch seconds nor ISO-8601"),
    (b"\xff\xfe", "not UTF-8"),
    (b"", "empty payload"),
    (b"[]", "empty JSON array"),
    (b'[{"ts": 1, "value": 1}, {"value": 2}]', "a batch needs each sample's ts"),
    (b"hello", "not a number, JSON or CSV"),
    (b"x" * 70_000, "exceeds the 65536-byte limit"),
    (b"1,2,3", "expected ts and 1 value"),
])
def test_rejected_payloads_say_why(payload, reason):
    with pytest.raises(PayloadError) as exc:
        parse(payload, arrival=0.0, features=1)
    assert reason in str(exc.value)
