"""What `edge-lstm serve` tells its operator: what it serves, where from and to, each event with -v."""

import signal

import pytest

pytest.importorskip("keras")

from tests.serve.test_daemon import _publish, series
from tests.support.mosquitto import mosquitto as broker  # noqa: F401  (fixture)
from tests.support.mqtt import Collector, DaemonProcess, publisher


@pytest.fixture
def bundle(forecaster):
    return forecaster


def test_serve_says_what_it_serves_and_subscribed_and_v_logs_each_event(tmp_path, bundle, broker):  # noqa: F811
    """The first lines name the bundle, the broker, the topics in and out; -v logs each event published; the node
    id defaults to the host name."""
    from edge_lstm.serve.config import host_node_id

    collector = Collector(broker.port)
    daemon = DaemonProcess(["--bundle", str(bundle), "--broker", broker.url, "-v", "--set", "forecast.every=5"],
                           tmp_path / "daemon.log")
    try:
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online"), daemon.output()
        _publish(publisher(broker.port), series(20))
        assert collector.wait_for(lambda: len(collector.matching("forecast")) >= 4), daemon.output()
        out = daemon.output()
        assert f"serving {bundle} on numba-f32: samples from sensors/+/+ on {broker.url}" in out
        assert f"events to edge-lstm/{host_node_id()}/" in out
        assert "subscribed to sensors/+/+" in out
        assert f"edge-lstm/{host_node_id()}/forecast/pump/vib {{" in out
    finally:
        daemon.stop(signal.SIGKILL)
        collector.close()
