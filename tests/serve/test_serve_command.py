"""`edge-lstm serve` without a broker: configuration errors name the key, --check, the example config."""

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def bundle(forecaster):
    return forecaster


@pytest.mark.parametrize(("args", "message"), [
    (["--broker", "mqtt://localhost:1883"], "model.bundle: required"),
    (["--bundle", "/nonexistent"], "model.bundle: '/nonexistent' is not a bundle directory"),
    (["--bundle", ".", "--set", "mqtt.qos=3"], "mqtt.qos: must be one of 0, 1, got 3"),
    (["--bundle", ".", "--set", "anomaly.threshold=-1"], "anomaly.threshold: must be positive"),
    (["--bundle", ".", "--set", "anomaly.relation_alpha=1.5"], "anomaly.relation_alpha: must be in (0, 1)"),
    (["--bundle", ".", "--set", "nope.key=1"], "nope.key: unknown key"),
    (["--bundle", ".", "--set", "threshold=3"], "threshold: unknown key; did you mean anomaly.threshold?"),
])
def test_config_errors_exit_non_zero_with_the_key(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "edge_lstm", "serve", *args], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_config_file_errors_name_the_key(tmp_path, bundle):
    (tmp_path / "c.toml").write_text(f'[model]\nbundle = "{bundle}"\n[mqtt]\nkeepalive = "soon"\n')
    result = subprocess.run([sys.executable, "-m", "edge_lstm", "serve", "--config", str(tmp_path / "c.toml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "mqtt.keepalive: expected int, got 'soon'" in result.stderr


@contextlib.contextmanager
def _port_in_use():
    """A TCP port some other process holds (as a running daemon holds its metrics port)."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_metrics_port_in_use_is_a_config_error_not_a_traceback(tmp_path, bundle):
    with _port_in_use() as port:
        result = subprocess.run([sys.executable, "-m", "edge_lstm", "serve", "--bundle", str(bundle), "--broker",
                                 "mqtt://127.0.0.1:1", "--set", f"stats.metrics_port={port}"],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"stats.metrics_port: cannot serve metrics on port {port} (Address already in use)" in result.stderr


def test_check_validates_and_says_what_it_would_do_without_connecting(tmp_path, bundle):
    with _port_in_use() as port:  # the running daemon's metrics port: --check leaves it alone
        result = subprocess.run([sys.executable, "-m", "edge_lstm", "serve", "--bundle", str(bundle), "--broker",
                                 "mqtts://ann:s3cret@127.0.0.1:1", "--checkpoint", str(tmp_path / "state.npz"),
                                 "--metrics-port", str(port), "--check", "--quiet"],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout and "connect to mqtts://ann@127.0.0.1:1 " in result.stdout
    assert f"serve Prometheus metrics on port {port}" in result.stdout
    assert f"checkpoint to {tmp_path / 'state.npz'}: no checkpoint yet" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr
    bad = subprocess.run([sys.executable, "-m", "edge_lstm", "serve", "--bundle", str(bundle), "--check", "--set",
                          "input.max_streams=-1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "input.max_streams: must be zero or positive" in bad.stderr


def test_example_config_is_valid(tmp_path, bundle):
    from edge_lstm.serve.config import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "deploy" / "edge-lstm.toml",
                         {"model.bundle": str(bundle)})
    assert config["mqtt"]["node_id"] == "edge-1" and config["input"]["subscribe"] == ["sensors/+/+"]


def test_the_example_config_detects_and_forecasts_with_the_evaluated_defaults():
    """deploy/edge-lstm.toml is what a deployment starts from: its [anomaly], [forecast] and [input] keys must be
    the defaults docs/evaluation.md measured (one profile), and it must name every one of them."""
    import tomllib

    from edge_lstm.serve.config import SCHEMA

    raw = tomllib.loads((Path(__file__).resolve().parents[2] / "deploy" / "edge-lstm.toml").read_text())
    for section in ("anomaly", "forecast", "input"):
        assert set(raw[section]) == set(SCHEMA[section]), section
        defaults = {k: key.default for k, key in SCHEMA[section].items()}
        differ = {k: (v, defaults[k]) for k, v in raw[section].items() if v != defaults[k]}
        assert not differ, (section, differ)


def test_print_config_is_every_key_with_its_default_and_loads_back(tmp_path, bundle):
    """(serve --help pointed at deploy/edge-lstm.toml, which an installed package lacks.)"""
    import tomllib

    from edge_lstm.serve.config import SCHEMA, load_config

    printed = subprocess.run([sys.executable, "-m", "edge_lstm", "serve", "--print-config"], capture_output=True,
                             text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    table = tomllib.loads(printed.stdout)
    assert {s: set(keys) for s, keys in table.items()} == {s: set(keys) - {"bundle"} if s == "model" else set(keys)
                                                            for s, keys in SCHEMA.items()}
    (tmp_path / "c.toml").write_text(printed.stdout)
    assert load_config(tmp_path / "c.toml", {"model.bundle": str(bundle)}) == load_config(None, {"model.bundle":
                                                                                                    str(bundle)})
