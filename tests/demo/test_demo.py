"""`edge-lstm demo`: the whole product against a real Mosquitto and against the embedded broker."""

import json
import subprocess
import sys

import pytest

from edge_lstm.demo.brokers import MOSQUITTO
from edge_lstm.demo.run import bundle_path

pytestmark = pytest.mark.skipif(not (bundle_path() / "manifest.json").exists(),
                                reason="no pretrained demo bundle (make demo-bundle)")


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_runs_end_to_end_and_detects_a_fault(broker, tmp_path):
    if broker == "mosquitto" and MOSQUITTO is None:
        pytest.fail("mosquitto is not installed: `make test` installs it")
    out = tmp_path / "report"
    args = [sys.executable, "-m", "edge_lstm", "demo", "--duration", "10", "--speed", "50", "--no-live",
            "--out", str(out)] + (["--embedded"] if broker == "embedded" else [])
    run = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert ("embedded amqtt" if broker == "embedded" else "broker: mosquitto") in run.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["streams_seen"] == 11 and summary["samples"] >= 11 * 450, summary["samples"]
    assert summary["detected"] >= 1, summary["streams"]
    assert summary["faults"] == 4 and summary["false_alarms"] <= 3
    assert summary["errors"] == 5, "every malformed payload is rejected and reported"
    assert summary["forecast_events"] > 0 and summary["event_latency_ms"] is not None
    # The forecasts, judged against the last value: the demo's model forecasts its simulated sensors better.
    assert summary["forecast"]["rmse_vs_naive_median"] < 1.0 and summary["forecast"]["coverage_mean"] > 0.6
    assert "RMSE/naive" in (out / "summary.md").read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 11 and all((out / p).stat().st_size > 10_000 for p in pngs)
    assert "Faults: 4, detected" in (out / "summary.md").read_text()


def test_demo_stops_cleanly_on_ctrl_c_and_still_reports(tmp_path):
    import signal
    import time

    out = tmp_path / "report"
    # (SIGINT's default action restored in the child: a suite started in the background of a non-interactive shell
    # ignores SIGINT, and Python then never raises KeyboardInterrupt.)
    demo = subprocess.Popen([sys.executable, "-m", "edge_lstm", "demo", "--duration", "60", "--speed", "50",
                             "--no-live", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and demo.poll() is None:
        line = demo.stdout.readline()
        if "samples in 11 streams" in line and not line.startswith("[demo] 0/"):
            break
    demo.send_signal(signal.SIGINT)
    stdout, stderr = demo.communicate(timeout=120)
    assert demo.returncode == 0, stdout + stderr
    assert "stopping (Ctrl-C)" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_early"] and summary["samples"] > 0
    assert 0 < summary["simulated_s"] < 3000, "what ran, not the whole scenario's 3,000 s"


def test_the_live_view_marks_forecasts_made_by_the_last_value():
    from rich.console import Console

    from edge_lstm.demo.view import render

    header = {"simulated": "2024-06-03 06:00:00", "wall_s": 1.0, "duration_s": 60.0, "rate": 10.0, "anomaly_events": 0,
              "forecast_events": 2, "errors": 0, "broker": "mosquitto"}
    row = {"samples": 5, "value": 1.0, "expected": 1.1, "score": 0.1, "open": 0, "incidents": 0}
    streams = {"m/a": {**row, "forecast": 1.25, "forecaster": "last_value"},
               "m/b": {**row, "forecast": 1.75, "forecaster": "model"}}
    console = Console(width=140, record=True)
    console.print(render(header, streams, set(), 0.5))
    text = console.export_text()
    assert "1.25*" in text and "1.75*" not in text and "* the last value" in text
    streams["m/a"]["forecaster"] = "model"
    console = Console(width=140, record=True)
    console.print(render(header, streams, set(), 0.5))
    assert "*" not in console.export_text()


def test_the_live_view_fits_80_columns_and_says_why_it_is_empty_at_first():
    from rich.console import Console

    from edge_lstm.demo.view import render

    header = {"simulated": "2024-06-03 06:00:00", "wall_s": 1.0, "duration_s": 60.0, "rate": 0.0, "anomaly_events": 0,
              "forecast_events": 0, "errors": 0, "broker": "mosquitto", "gathering": 120}
    row = {"samples": 3600, "value": 12.345, "expected": 12.3, "forecast": 12.4, "forecaster": "model", "score": 0.12,
           "open": 1, "incidents": 2}
    streams = {f"motor-0{k}/vibration_rms": dict(row) for k in range(3)}
    console = Console(width=80, record=True)
    console.print(render(header, streams, set(), 0.5))
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "samples" in text and "3,600" in text and "12.3" in text and "2+" in text
    assert "motor-02/vibration_rms" in text
    assert "first 120 samples are gathered for its scaling" in text
