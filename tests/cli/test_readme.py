"""Every command of the README's quick start works, in order, as written (serve against a real Mosquitto)."""

import json
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import edge_lstm
from tests.support.mosquitto import mosquitto  # noqa: F401  (fixture)
from tests.support.mqtt import Collector

pytest.importorskip("keras")

README = Path(__file__).resolve().parents[2] / "README.md"


def quickstart() -> list[str]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- quickstart:begin.*?-->\s*```sh\n(.*?)```\s*<!-- quickstart:end -->", text, re.S)
    assert block, "README.md lost its quick-start block markers"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_quickstart_commands_work(tmp_path, mosquitto):  # noqa: F811
    commands = quickstart()
    assert commands[0].startswith("pip install") and commands[-1].startswith("edge-lstm serve")
    cli = [sys.executable, "-m", "edge_lstm"]
    for command in commands[1:-1]:  # (the pip line is what `make test` already did)
        args = shlex.split(command)
        assert args[0] == "edge-lstm", command
        run = subprocess.run([*cli, *args[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, f"{command}\n{run.stdout}\n{run.stderr}"
    summary = json.loads((tmp_path / "evaluation" / "summary.json").read_text())
    assert summary["samples"] > 10_000
    # The exported hours hold the scenario's faults (the 1 h export it used to suggest held none, and its labels'
    # windows started after they ended): the evaluation finds them.
    assert summary["incidents"]["windows"] >= 3 and summary["incidents"]["recall"] > 0.5, summary["incidents"]
    assert edge_lstm.read_bundle(tmp_path / "model.bundle").standardise == 120, "convert records train --standardise"
    # The summary says truthfully what the model learned from: these very files, beyond their probation rows.
    assert "the model learned from data, all of each file" in summary["protocol"], summary["protocol"]
    assert "not a fair test" in summary["protocol"]
    serve = shlex.split(commands[-1].replace("mqtt://localhost:1883", mosquitto.url))
    collector = Collector(mosquitto.port, "edge-lstm/+/status")
    daemon = subprocess.Popen([*cli, *serve[1:]], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:  # (samples published before it subscribes would be lost: wait for it, however slow the machine)
        assert collector.wait_for(lambda: (collector.latest("status") or {}).get("state") == "online", 300)
        sim = subprocess.run([*cli, "sim", "run", "pump-cavitation", "--broker", mosquitto.url, "--speed", "max",
                              "--duration", "5m"], capture_output=True, text=True, timeout=120)
        assert sim.returncode == 0, sim.stderr
        time.sleep(3)
    finally:
        collector.close()
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    stats = json.loads(err.rsplit("stopped: ", 1)[1].splitlines()[0])
    assert stats["samples"] > 2000 and stats["streams"] == 10, stats
