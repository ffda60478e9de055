"""Structure-aware fuzzing of every input path (hypothesis): payloads (JSON objects and batches, CSV, bare
numbers, raw bytes), topics and stream templates, a whole pass of the daemon's worker, and configuration.

The only outcome allowed for bad input is a reported error: PayloadError / ConfigError here, an error on
.../errors with the message acknowledged in the daemon. CI runs a bounded number of cases;
``make fuzz`` runs at least 1,000,000 (FUZZ_EXAMPLES scales every property).
"""

from __future__ import annotations

import json
import math
import os

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edge_lstm.serve.config import ConfigError, load_config  # noqa: E402
from edge_lstm.serve.payloads import FLOAT32_MAX, PayloadError, parse  # noqa: E402
from edge_lstm.serve.topics import stream_name  # noqa: E402
from tests.support.bundles import lstm_model, write_random_bundle  # noqa: E402

#: Cases per property in this run: a few hundred in CI, scaled up by ``make fuzz``.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))


def fuzz(share: float = 1.0):
    """Hypothesis settings for one property: ``share`` of FUZZ_EXAMPLES cases, no deadline, no database."""
    return settings(max_examples=max(20, int(EXAMPLES * share)), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


# -- what sensors might send ----------------------------------------------------------------------------------
huge_digits = st.integers(300, 6000).map(lambda n: "9" * n)
number_texts = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                         huge_digits, st.sampled_from(["1e400", "-1e400", "NaN", "Infinity", "-0", "1e-400", "0x10",
                                                       "1_000", " 7 ", "", "+5", ".5", "5."]))
iso_texts = st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.sampled_from(
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "2024-02-30", "2024-01-01Z", "T", "2024"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**50), 10**50), st.floats(), st.text(max_size=30),
                    number_texts, iso_texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                            st.dictionaries(st.text(max_size=8), inner, max_size=5)),
                           max_leaves=20)
sample_objects = st.fixed_dictionaries({}, optional={
    "ts": st.one_of(json_values, st.floats(0, 2e18), iso_texts, number_texts),
    "value": st.one_of(json_values, st.floats(), number_texts),
    "values": st.one_of(json_values, st.lists(st.one_of(st.floats(), number_texts, scalars), max_size=4)),
    "seq": json_values})


def _dumps(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def _raw_numbers(text: str) -> bytes:
    """JSON with number literals no encoder writes: a 6,000-digit integer, 1e400, a bare NaN."""
    return text.encode()


deep = st.integers(1, 3000).flatmap(lambda n: st.sampled_from([
    b"[" * n + b"]" * n, b'{"value": ' + b"[" * n + b"]" * n + b"}", b'{"a":' * n + b"1" + b"}" * n]))
csv_lines = st.lists(st.lists(st.one_of(number_texts, iso_texts, st.text(max_size=10)), min_size=1, max_size=4)
                     .map(lambda cells: ",".join(cells)), min_size=1, max_size=5).map(lambda ls: "\n".join(ls).encode())
literal_json = st.builds(lambda ts, value: _raw_numbers(f'{{"ts": {ts}, "value": {value}}}'),
                         st.one_of(huge_digits, number_texts), st.one_of(huge_digits, number_texts))
documents = st.one_of(sample_objects.map(_dumps), st.lists(sample_objects, max_size=6).map(_dumps),
                      json_values.map(_dumps), literal_json, deep, csv_lines, number_texts.map(str.encode))


def _mangled(data: st.DataObject, payload: bytes) -> bytes:
    """Sometimes a payload cut short, spliced with bytes that are not UTF-8, or padded past the size limit."""
    how = data.draw(st.integers(0, 5))
    if how == 1 and payload:
        return payload[: data.draw(st.integers(0, len(payload) - 1))]
    if how == 2:
        at = data.draw(st.integers(0, len(payload)))
        return payload[:at] + data.draw(st.binary(min_size=1, max_size=8)) + payload[at:]
    if how == 3:
        return payload + b" " * 70_000
    return payload


payloads = st.one_of(documents, st.binary(max_size=200))


def _check(samples, features: int) -> None:
    for sample in samples:
        assert math.isfinite(sample.ts) and sample.ts >= 0
        assert len(sample.values) == features
        assert all(type(v) is float and abs(v) <= FLOAT32_MAX for v in sample.values)


@fuzz(share=0.6)
@given(st.data(), payloads, st.sampled_from([1, 2, 3]))
def test_any_payload_parses_to_valid_samples_or_a_payload_error(data, payload, features):
    payload = _mangled(data, payload)
    try:
        samples = parse(payload, arrival=1_700_000_000.0, features=features)
    except PayloadError as exc:
        assert str(exc)
        return
    _check(samples, features)


topics = st.lists(st.text(max_size=12), min_size=1, max_size=6).map("/".join)
templates = st.one_of(st.sampled_from(["{1}/{2}", "{0}", "{2}", "{1}", "dev-{1}", "{9}"]), st.text(max_size=12))


@fuzz(share=0.1)
@given(templates, topics)
def test_any_topic_gives_a_stream_name_or_a_payload_error(template, topic):
    from edge_lstm.serve.config import _template

    if _template(template) is not None:  # (the configuration refuses it before any topic arrives)
        return
    try:
        assert isinstance(stream_name(template, topic), str)
    except PayloadError:
        pass


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """A daemon whose MQTT client only records what it would publish and acknowledge."""
    from edge_lstm.serve.daemon import Daemon

    path = write_random_bundle(tmp_path_factory.mktemp("fuzz") / "b", lstm_model(1, (4,)))
    daemon = Daemon(load_config(None, {"model.bundle": str(path), "input.max_streams": "20",
                                       "input.standardise": "0", "forecast.every": "1"}))
    daemon.sent, daemon.acked = [], []
    daemon.client.publish = lambda topic, body, **_: daemon.sent.append((topic, body))
    daemon.client.ack = lambda mid, qos: daemon.acked.append(mid)
    return daemon


@fuzz(share=0.2)
@given(st.data(), st.lists(st.tuples(st.one_of(topics, st.sampled_from(["sensors/a/x", "sensors/b/y", "x"])),
                                     payloads), min_size=1, max_size=8))
def test_a_worker_pass_over_any_messages_reports_bad_ones_and_acknowledges_all(worker, data, messages):
    worker.sent.clear()
    worker.acked.clear()
    errors, internal = worker.counters["errors"], worker.counters["internal_errors"]
    items = [(topic, _mangled(data, payload), 1_700_000_000.0, mid + 1, 1)
             for mid, (topic, payload) in enumerate(messages)]
    worker.process(items)
    assert sorted(worker.acked) == [mid for _, _, _, mid, _ in items]
    assert worker.counters["internal_errors"] == internal, [json.loads(b) for t, b in worker.sent]
    reported = [json.loads(body) for topic, body in worker.sent if topic.endswith("/errors")]
    assert len(reported) == worker.counters["errors"] - errors <= len(items)
    assert all(r["reason"] for r in reported)


toml_values = st.one_of(st.integers(-(10**6), 10**6).map(str), st.floats(allow_nan=False).map(repr),
                        st.text(max_size=12).map(json.dumps), st.booleans().map(lambda b: str(b).lower()),
                        st.lists(st.text(max_size=6).map(json.dumps), max_size=3).map(lambda v: f"[{', '.join(v)}]"))
sections = st.sampled_from(["model", "mqtt", "input", "processing", "anomaly", "forecast", "state", "stats", "nope"])
keys = st.one_of(st.sampled_from(["bundle", "broker", "qos", "subscribe", "stream", "queue_size", "threshold",
                                  "every", "checkpoint", "metrics_port", "max_streams", "evict_after_s"]),
                 st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10))
toml_texts = st.one_of(st.text(max_size=80), st.lists(st.tuples(sections, keys, toml_values), max_size=6).map(
    lambda rows: "".join(f"[{s}]\n{k} = {v}\n" for s, k, v in rows)))


@fuzz(share=0.1)
@given(toml_texts, st.dictionaries(st.builds(lambda s, k: f"{s}.{k}", sections, keys), st.text(max_size=12),
                                   max_size=3))
def test_any_configuration_loads_or_names_what_is_wrong(tmp_path_factory, text, overrides):
    path = tmp_path_factory.getbasetemp() / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path, {"model.bundle": str(tmp_path_factory.getbasetemp()), **overrides})
    except ConfigError as exc:
        assert str(exc)
