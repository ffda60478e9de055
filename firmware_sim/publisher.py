"""Publish a scenario's messages over MQTT with paho-mqtt: paced in simulated time, or flat out."""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from edge_lstm.serve.broker import BrokerAddress
from firmware_sim.firmware import Firmware
from firmware_sim.generate import blocks
from firmware_sim.scenario import Scenario


@dataclass
class PublishReport:
    messages: int = 0
    samples: int = 0
    seconds: float = 0.0
    began_wall: float = 0.0  # wall time (epoch s) at which the scenario's start was published
    kinds: Counter = field(default_factory=Counter)
    firmware: Counter = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def connect(broker: BrokerAddress, client_id: str, ca_file: str | None = None, timeout: float = 10.0,
            protocol: str = "5") -> mqtt.Client:
    """A connected paho client (MQTT ``protocol`` "5" or "3.1.1") with its network loop in a background thread."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            failure.append(str(reason_code))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except OSError as exc:
        raise ConnectionError(f"cannot reach the broker at {broker}: {exc}") from None
    client.loop_start()
    if not connected.wait(timeout) or failure:
        client.loop_stop()
        raise ConnectionError(f"broker {broker} refused the connection: {failure[0] if failure else 'timed out'}")
    return client


def publish(scenario: Scenario, broker: BrokerAddress, speed: float = 0.0, ca_file: str | None = None,
            block_s: float = 60.0, client_id: str = "edge-lstm-sim", protocol: str = "5",
            stop: threading.Event | None = None, report: PublishReport | None = None) -> PublishReport:
    """Publish every message of ``scenario``; ``speed`` = simulated seconds per wall second (0: flat out).
    Setting ``stop`` ends it early (after the messages already handed to the client). ``report`` (filled
    in as it goes) lets another thread watch: ``report.began_wall`` is set when the clock starts."""
    client = connect(broker, client_id, ca_file, protocol=protocol)
    stop = stop or threading.Event()
    report = report if report is not None else PublishReport()
    firmware = Firmware(scenario)
    qos = scenario.payload.qos
    began = time.monotonic()
    report.began_wall = time.time()
    last_info = None
    try:
        for block in blocks(scenario, block_s):
            for message in firmware.messages(block):
                if speed > 0:
                    due = began + (message.send_time - scenario.start) / speed
                    delay = due - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        break
                if stop.is_set():
                    break
                last_info = client.publish(message.topic, message.payload, qos=qos)
                report.messages += 1
                report.samples += message.samples
                report.kinds[message.kind.split(":")[0]] += 1
            if stop.is_set():
                break
        for message in firmware.finish():
            last_info = client.publish(message.topic, message.payload, qos=qos)
            report.messages += 1
            report.kinds["malformed"] += 1
        if last_info is not None:
            last_info.wait_for_publish(timeout=60)
        deadline = time.monotonic() + 60
        while client.want_write() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()
    report.seconds = time.monotonic() - began
    report.firmware = firmware.counts
    return report
