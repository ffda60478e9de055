"""firmware_sim: deterministic, faults where their labels say, firmware quirks, real MQTT delivery."""

import itertools
import json
import threading
from collections import Counter

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from edge_lstm.serve.broker import parse_broker_url
from firmware_sim.export import export
from firmware_sim.faults import KINDS
from firmware_sim.firmware import all_messages, allocate
from firmware_sim.generate import blocks, labels, stream_block
from firmware_sim.publisher import publish
from firmware_sim.scenario import BUILTIN, ScenarioError, from_dict, load_scenario
from tests.support.mosquitto import mosquitto  # noqa: F401  (fixture)


def _every_fault_scenario(**firmware):
    faults = [{"kind": k, "device": "m", "channel": "vibration_rms", "at": f"{20 + 40 * i}m", "duration": "10m"}
              for i, k in enumerate(KINDS)]
    return from_dict({"seed": 5, "duration": "6h", "devices": [{"name": "m", "kind": "motor", "rate_hz": 1}],
                      "faults": faults, "firmware": firmware})


def test_builtin_scenarios_load():
    for name in BUILTIN:
        assert load_scenario(name).devices


def test_same_seed_same_samples_and_block_size_does_not_matter(tmp_path):
    scenario = load_scenario("pump-cavitation").with_duration(1800)
    export(scenario, tmp_path / "a")
    export(scenario, tmp_path / "b")
    for f in sorted((tmp_path / "a").rglob("*.csv")):
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()
    def flow(block_s):
        return np.concatenate([s.values for b in blocks(scenario, block_s) for s in b if s.stream_id == "pump-0/flow"])

    np.testing.assert_array_equal(flow(1800), flow(7))


def test_another_seed_gives_other_samples():
    a = load_scenario("pump-cavitation").with_duration(600)
    b = from_dict({**{"seed": 99, "duration": 600}, "devices": [{"name": "pump-{i}", "count": 2, "kind": "pump"}]})
    va = stream_block(a, a.devices[0], "flow", 0, 600).values
    vb = stream_block(b, b.devices[0], "flow", 0, 600).values
    assert not np.array_equal(va, vb)


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_changes_the_signal_only_inside_its_label(kind):
    scenario = _every_fault_scenario()
    device = scenario.devices[0]
    n = int(scenario.duration_s)
    faulty = stream_block(scenario, device, "vibration_rms", 0, n)
    clean = stream_block(scenario, device, "vibration_rms", 0, n, with_faults=False)
    (window,) = [w for w, f in zip(labels(scenario)["m/vibration_rms"], sorted(scenario.faults, key=lambda f: f.start),
                                   strict=True) if f.kind == kind]
    inside = (faulty.t >= window[0]) & (faulty.t < window[1])
    changed = (faulty.values != clean.values) | faulty.dropped
    other = [w for w in labels(scenario)["m/vibration_rms"] if w != window]
    in_other = np.zeros_like(inside)
    for a, b in other:
        in_other |= (faulty.t >= a) & (faulty.t < b)
    # After the degradation fault's failure the machine is down for good: the channel reads idle.
    failure = scenario.start + next(f.end for f in scenario.faults if f.kind == "degradation")
    in_other |= faulty.t >= failure
    assert changed[inside].mean() > 0.3, f"{kind} barely shows inside its window"
    assert not changed[~inside & ~in_other].any(), f"{kind} leaks outside its window"
    if kind == "dropout":
        assert faulty.dropped[inside].all() and not faulty.dropped[~inside].any()
    if kind == "stuck":
        assert np.unique(faulty.values[inside]).size == 1
    if kind == "spike":
        assert (faulty.values[inside] - clean.values[inside]).min() > 5 * 0.08


def test_degradation_grows_towards_failure():
    scenario = load_scenario("bearing-wear")
    device = next(d for d in scenario.devices if d.name == "motor-01")
    fault = next(f for f in scenario.faults if f.device == "motor-01" and f.channel == "vibration_rms")
    i0, i1 = int(fault.start * device.rate_hz), int(fault.end * device.rate_hz)
    faulty = stream_block(scenario, device, "vibration_rms", i0, i1)
    clean = stream_block(scenario, device, "vibration_rms", i0, i1, with_faults=False)
    excess = faulty.values - clean.values
    quarters = [excess[k * len(excess) // 4 : (k + 1) * len(excess) // 4].mean() for k in range(4)]
    assert quarters == sorted(quarters) and quarters[-1] > 5 * max(quarters[0], 0.01)


def test_exact_malformed_mix_and_firmware_counts():
    scenario = _every_fault_scenario(malformed={"count": 37, "mix": {"truncated": 2, "nan": 1, "oversize": 1}},
                                     loss=0.01, duplicates=0.01, reboot_every="2h", offline=[{"at": "5h",
                                                                                               "duration": "5m"}])
    messages = list(all_messages(scenario))
    kinds = Counter(m.kind for m in messages)
    assert (kinds["malformed:truncated"], kinds["malformed:nan"], kinds["malformed:oversize"]) == (19, 9, 9)
    assert "malformed:wrong_type" not in kinds
    for m in messages:
        if m.kind == "malformed:truncated":
            with pytest.raises(json.JSONDecodeError):
                json.loads(m.payload)
        if m.kind == "malformed:oversize":
            assert len(m.payload) > 256 * 1024
    assert kinds["backlog"] > 250 and kinds["duplicate"] > 0
    sends = [m.send_time for m in messages]
    assert sends == sorted(sends)
    # Reboots reset the sequence counter: seq falls back to 0 after each reboot.
    seqs = [json.loads(m.payload)["seq"] for m in messages if m.kind == "sample" and m.topic.endswith("current")]
    assert sum(1 for a, b in itertools.pairwise(seqs) if b < a) >= 2


def test_allocate_is_exact():
    assert sorted(Counter(allocate(7, {"nan": 1, "truncated": 1})).values()) == [3, 4]
    assert Counter(allocate(100, {"nan": 0.1, "oversize": 0.9})) == Counter({"nan": 10, "oversize": 90})
    assert allocate(0, {"nan": 1}) == []


def test_scenario_errors_name_the_key(tmp_path):
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.kind: unknown fault 'meteor'"):
        from_dict({"devices": [{"name": "m"}], "faults": [{"kind": "meteor", "device": "m", "at": 1}]})
    with pytest.raises(ScenarioError, match=r"devices\[0\]\.rate_hz: must be in"):
        from_dict({"devices": [{"name": "m", "rate_hz": -1}]})
    with pytest.raises(ScenarioError, match=r"firmware\.loss: must be a fraction"):
        from_dict({"devices": [{"name": "m"}], "firmware": {"loss": 2}})
    with pytest.raises(ScenarioError, match=r"duration: expected a duration"):
        from_dict({"devices": [{"name": "m"}], "duration": "forever"})
    (tmp_path / "bad.toml").write_text("devices = [")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(tmp_path / "bad.toml")


def test_publish_delivers_every_message_to_a_real_broker(mosquitto):  # noqa: F811
    scenario = load_scenario("sensor-faults").with_duration(1200)
    expected = list(all_messages(scenario, block_s=60))
    received: list[tuple[str, bytes]] = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="counter", protocol=mqtt.MQTTv5)

    def on_message(client, userdata, msg):
        received.append((msg.topic, msg.payload))
        if len(received) >= len(expected):
            done.set()

    subscribed = threading.Event()
    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe("sensors/#", qos=1)
    client.loop_start()
    assert subscribed.wait(5)
    report = publish(scenario, parse_broker_url(mosquitto.url), speed=0, block_s=60)
    done.wait(20)
    client.loop_stop()
    client.disconnect()
    assert report.messages == len(expected)
    assert Counter(received) == Counter((m.topic, m.payload) for m in expected)
    assert report.kinds["malformed"] == sum(m.kind.startswith("malformed") for m in expected) == 40


@pytest.mark.parametrize(("fmt", "batch"), [("json", 1), ("json", 5), ("number", 1), ("csv", 1), ("json-values", 1)])
def test_payload_formats(fmt, batch):
    scenario = from_dict({"duration": 20, "devices": [{"name": "p", "kind": "pump"}],
                          "payload": {"format": fmt, "batch": batch}})
    messages = list(all_messages(scenario))
    first = messages[0].payload.decode()
    if fmt == "json":
        body = json.loads(first)
        assert (len(body) == 5 and {"ts", "value", "seq"} <= set(body[0])) if batch > 1 else "value" in body
        assert sum(m.samples for m in messages) == 20 * 5
    elif fmt == "number":
        float(first)
    elif fmt == "csv":
        ts, value = first.split(",")
        assert float(ts) >= scenario.start and float(value) == pytest.approx(float(value))
    else:
        body = json.loads(first)
        assert messages[0].topic == "sensors/p/all" and len(body["values"]) == 5 and len(messages) == 20


def test_a_node_whose_clock_restarts_at_the_epoch_after_reboots_is_followed_by_the_engine():
    """With ``clock_sync``, a rebooted node stamps seconds since boot until its clock syncs; the engine restarts
    the stream from those samples (input.clock_reset) instead of dropping them as stale."""
    import edge_lstm
    from edge_lstm.serve.payloads import parse
    from edge_lstm.stream.engine import Engine, EngineConfig
    from tests.support.bundles import lstm_model, random_bundle

    scenario = from_dict({"seed": 3, "duration": "3h", "devices": [{"name": "m", "kind": "motor", "rate_hz": 1}],
                          "firmware": {"reboot_every": "1h", "reboot_gap": "5s", "clock_sync": "2m"}})
    messages = [m for m in all_messages(scenario) if m.kind == "sample"]
    stamps = [json.loads(m.payload)["ts"] for m in messages]
    unsynced = sum(1 for t in stamps if t < 1e6)
    streams = len({m.topic for m in messages})
    assert unsynced == streams * 2 * 115  # two reboots, each 2 min of clock from 5 s after boot until the sync
    model = edge_lstm.load(random_bundle(lstm_model(1, (4,), 1)), "numba-f32")

    def replayed(clock_reset: int) -> Engine:
        engine = Engine(model, EngineConfig(forecast_every=0, clock_reset=clock_reset))
        for m in messages:
            engine.process([(m.topic, s) for s in parse(m.payload, m.send_time, 1)])
        return engine

    following, dropping = replayed(5), replayed(0)
    assert following.counters["clock_resets"] == streams * 2 and following.counters["stale"] == 0
    assert following.counters["samples"] == len(messages)
    assert dropping.counters["stale"] == unsynced and dropping.counters["samples"] == len(messages) - unsynced


def test_an_offline_backlog_keeps_the_stamps_of_when_it_was_measured():
    """Sent in a burst after reconnecting, the buffered samples still carry the times they were taken at."""
    scenario = from_dict({"seed": 5, "duration": "2h", "devices": [{"name": "m", "kind": "motor", "rate_hz": 1}],
                          "firmware": {"offline": [{"at": "1h", "duration": "5m"}]}})
    backlog = [m for m in all_messages(scenario) if m.kind == "backlog" and m.topic.endswith("current")]
    stamps = [json.loads(m.payload)["ts"] - scenario.start for m in backlog]
    assert len(backlog) == 300 and stamps == sorted(stamps)
    assert stamps[0] == pytest.approx(3600, abs=1) and stamps[-1] == pytest.approx(3899, abs=1)
    assert all(m.send_time - scenario.start >= 3900 for m in backlog)


def test_a_shorter_export_labels_only_the_faults_inside_it(tmp_path, capsys):
    """pump-cavitation cut to 1 h: its faults (3 h, 8 h) are outside; their windows used to start after their ends."""
    from firmware_sim.export import export
    from firmware_sim.generate import labels
    from firmware_sim.scenario import load_scenario

    short = load_scenario("pump-cavitation").with_duration(3600.0)
    assert labels(short) == {}
    export(short, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "labels.json").read_text()) == {}
    assert "begins after the exported 1 h: not labelled" in capsys.readouterr().err
    windows = labels(load_scenario("pump-cavitation").with_duration(4 * 3600.0))
    assert windows and all(start < end for spans in windows.values() for start, end in spans)
