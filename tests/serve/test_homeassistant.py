"""Home Assistant MQTT discovery against a real Mosquitto: configs per stream, retained; sent again when Home Assistant
announces itself; removed with an evicted stream."""

import json
import signal

import pytest

pytest.importorskip("keras")

from tests.serve.test_daemon import T0, _daemon, series
from tests.support.mosquitto import mosquitto as broker  # noqa: F401  (fixture)
from tests.support.mqtt import Collector, publisher


def _configs(collector):
    with collector.lock:
        return [(t, b) for t, b in collector.messages if t.startswith("homeassistant/")]


def test_discovery_configs_follow_the_streams(tmp_path, forecaster, broker):  # noqa: F811
    ha = Collector(broker.port, "homeassistant/#")
    events = Collector(broker.port)
    daemon = _daemon(tmp_path, forecaster, broker, "--set", "homeassistant.discovery=true",
                     "--set", "input.max_streams=2")
    pub = publisher(broker.port)
    try:
        assert events.wait_for(lambda: (events.latest("status") or {}).get("state") == "online"), daemon.output()
        x = series(80)
        for stream in ("pump/vib", "pump/temp"):
            for i in range(80):
                pub.publish(f"sensors/{stream}", json.dumps({"ts": T0 + i, "value": float(x[i])}), qos=1)
        assert ha.wait_for(lambda: len(dict(_configs(ha))) == 6), daemon.output()
        configs = dict(_configs(ha))
        binary = configs["homeassistant/binary_sensor/n1/pump_vib_anomaly/config"]
        assert binary["state_topic"] == "edge-lstm/n1/anomaly/pump/vib" and binary["device_class"] == "problem"
        assert binary["availability_topic"] == "edge-lstm/n1/status" and binary["unique_id"] == \
            "edge-lstm_n1_pump_vib_anomaly"
        assert binary["device"]["identifiers"] == ["edge-lstm_n1_pump"] and binary["device"]["name"] == "pump"
        forecast = configs["homeassistant/sensor/n1/pump_temp_forecast/config"]
        assert forecast["state_topic"] == "edge-lstm/n1/forecast/pump/temp" and "values" in forecast["value_template"]
        assert len({c["unique_id"] for c in configs.values()}) == 6
        # Retained: a subscriber arriving later (Home Assistant starting) gets them from the broker
        late = Collector(broker.port, "homeassistant/#")
        assert late.wait_for(lambda: dict(_configs(late)) == configs)
        late.close()
        # Home Assistant announces itself: every config again
        before = len(_configs(ha))
        pub.publish("homeassistant/status", "online", qos=1)
        assert ha.wait_for(lambda: len(_configs(ha)) >= before + 6), daemon.output()
        # A third stream evicts the least recently heard from: its entities are removed (empty retained configs)
        for i in range(5):
            pub.publish("sensors/fan/rpm", json.dumps({"ts": T0 + i, "value": float(i)}), qos=1)
        assert ha.wait_for(lambda: [t for t, b in _configs(ha) if b == b"" and "pump_vib" in t]), _configs(ha)[-6:]
        removed = {t for t, b in _configs(ha) if b == b""}
        assert removed == {t for t in configs if "pump_vib" in t}
        assert daemon.process.poll() is None
    finally:
        daemon.stop(signal.SIGKILL)
        pub.loop_stop()
        ha.close()
        events.close()
