"""`edge-lstm demo`: a broker, the daemon (in a thread), the simulator publishing, a live view, a report.

Everything runs in this process except a private Mosquitto: the daemon is the same
:class:`~edge_lstm.serve.daemon.Daemon` that ``edge-lstm serve`` runs, talking to the broker over
loopback; the view subscribes to the daemon's events like any user's client would.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import edge_lstm
from edge_lstm.demo.brokers import demo_broker
from edge_lstm.demo.monitor import Monitor
from edge_lstm.demo.report import write_report
from edge_lstm.demo.scenario import demo_scenario
from edge_lstm.serve.broker import parse_broker_url
from edge_lstm.serve.config import load_config
from edge_lstm.serve.daemon import Daemon
from firmware_sim.generate import labels
from firmware_sim.publisher import PublishReport, connect, publish

NODE = "demo"


def bundle_path() -> Path:
    """The pretrained bundle shipped in the package (Makefile target demo-bundle makes it)."""
    return Path(str(resources.files("edge_lstm.demo").joinpath("bundle")))


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 60.0
    speed: float = 60.0
    broker: str | None = None  # a running broker's URL; else a private Mosquitto, else embedded amqtt
    embedded: bool = False  # force the embedded broker
    out: Path = Path("demo-report")
    backend: str = "numba-int8"
    live: bool | None = None  # None: when stdout is a terminal
    seed: int = 7


def run_demo(options: DemoOptions, log: Any = print) -> dict[str, Any]:
    """Run the demo; return the report's summary (also written under ``options.out``)."""
    scenario = demo_scenario(options.duration_s, options.speed, options.seed)
    truth = labels(scenario)
    broker = demo_broker(options.broker, options.embedded).start()
    log(f"[demo] broker: {broker.kind} at {broker.url} (MQTT {broker.protocol})")
    try:
        return _run(options, scenario, truth, broker, log)
    finally:
        broker.stop()


def _run(options: DemoOptions, scenario: Any, truth: dict, broker: Any, log: Any) -> dict[str, Any]:
    config = load_config(None, {
        "model.bundle": str(bundle_path()), "model.backend": options.backend, "mqtt.broker": broker.url,
        "mqtt.protocol": broker.protocol, "mqtt.node_id": NODE, "mqtt.client_id": f"edge-lstm-demo-{os.getpid()}",
        "stats.every_s": 1.0, "forecast.every": 10,
        # Every simulated device reports its motor current: load steps are operating changes, not faults.
        "anomaly.context": "motor_current",
    })
    daemon = Daemon(config)
    monitor = Monitor(NODE, daemon.engine.names)
    daemon.engine.observer = monitor.observe
    address = parse_broker_url(broker.url)
    watcher = connect(address, f"edge-lstm-demo-view-{os.getpid()}", protocol=broker.protocol)
    watcher.on_message = monitor.on_message
    watcher.subscribe(f"edge-lstm/{NODE}/#", qos=1)
    worker = threading.Thread(target=daemon.run, kwargs={"handle_signals": False}, name="daemon", daemon=True)
    worker.start()
    if not daemon.connected.wait(15):
        raise RuntimeError(f"the daemon could not connect to {broker.url}")
    time.sleep(0.5)  # let the daemon's and the view's subscriptions settle before the first sample
    stop = threading.Event()
    began = time.time()
    report = PublishReport()
    # When each sample was published: the simulator's clock start plus its simulated offset.
    monitor.sent_at = lambda ts: (report.began_wall or began) + (ts - scenario.start) / options.speed

    def simulate() -> None:
        publish(scenario, address, speed=options.speed, protocol=broker.protocol, stop=stop, report=report,
                client_id=f"edge-lstm-demo-sim-{os.getpid()}")

    simulator = threading.Thread(target=simulate, name="simulator", daemon=True)
    simulator.start()
    stopped_early = False
    try:
        _watch(options, scenario, truth, monitor, simulator, began, str(broker.kind),
               daemon.engine.detector.threshold_score, log)
    except KeyboardInterrupt:
        stopped_early = True
        log("[demo] stopping (Ctrl-C): finishing the queue and writing the report")
    stop.set()
    simulator.join(30)
    _settle(daemon)
    daemon.request_stop()
    worker.join(30)
    time.sleep(0.3)  # the last events on their way to the view
    watcher.disconnect()
    watcher.loop_stop()
    wall = time.time() - began
    samples = sum(len(s.ts) for s in monitor.streams.values())
    last = max((s.ts[-1] for s in monitor.streams.values() if len(s.ts)), default=scenario.start)
    simulated = last - scenario.start if stopped_early else scenario.duration_s  # (Ctrl-C: what ran)
    run = {"broker": broker.kind, "backend": options.backend, "speed": options.speed, "wall_s": wall,
           "simulated_s": simulated, "streams_seen": len(monitor.streams), "samples": samples,
           "published_messages": report.messages, "stopped_early": stopped_early,
           "anomaly_events": sum(len(s.incidents) for s in monitor.streams.values()),
           "forecast_events": sum(s.forecasts for s in monitor.streams.values()), "errors": len(monitor.errors),
           "daemon": daemon.stats()}
    summary = write_report(options.out, monitor, truth, run, config["forecast"]["interval_z"],
                           daemon.engine.detector.threshold_score)
    log(f"[demo] faults {summary['faults']}: detected {summary['detected']}, missed {summary['missed']}; "
        f"false alarms {summary['false_alarms']}; report in {options.out}/summary.md")
    return summary


def _settle(daemon: Daemon, timeout: float = 60.0) -> None:
    """Wait until the daemon's queue is empty and no sample arrived for a moment."""
    deadline, last, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        count = daemon.counters["messages"]
        if count != last or len(daemon.intake):
            last, quiet_since = count, time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            return
        time.sleep(0.05)


def _watch(options: DemoOptions, scenario: Any, truth: dict, monitor: Monitor, simulator: threading.Thread,
           began: float, broker_kind: str, threshold: float, log: Any) -> None:
    """Show progress until the simulation has been published."""
    import sys

    live = options.live if options.live is not None else sys.stdout.isatty()
    gathering = edge_lstm.read_bundle(bundle_path()).standardise  # samples held per new stream for its scaling

    def header() -> dict[str, Any]:
        wall = time.time() - began
        sim = min(scenario.start + wall * options.speed, scenario.start + scenario.duration_s)
        samples = sum(len(s.ts) for s in monitor.streams.values())
        return {"wall_s": wall, "duration_s": options.duration_s, "gathering": gathering if not samples else 0,
                "simulated": datetime.fromtimestamp(sim, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
                "rate": samples / wall if wall > 0 else 0.0, "errors": len(monitor.errors), "broker": broker_kind,
                "anomaly_events": sum(len(s.incidents) for s in monitor.streams.values()),
                "forecast_events": sum(s.forecasts for s in monitor.streams.values()), "sim_ts": sim}

    def active(sim_ts: float) -> set[str]:
        return {name for name, windows in truth.items() if any(a <= sim_ts <= b + 5 for a, b in windows)}

    if live:
        from rich.live import Live

        from edge_lstm.demo.view import render

        with Live(refresh_per_second=4, transient=False) as screen:
            while simulator.is_alive():
                h = header()
                screen.update(render(h, monitor.snapshot(), active(h["sim_ts"]), threshold))
                simulator.join(0.25)
            h = header()
            screen.update(render(h, monitor.snapshot(), active(h["sim_ts"]), threshold))
        return
    from edge_lstm.demo.view import line

    next_line = 0.0
    while simulator.is_alive():
        if time.time() - began >= next_line:
            log(line(header(), monitor.snapshot()))
            next_line += 5.0
        simulator.join(0.25)
