"""The wheel a checkout builds holds everything the installed commands need (no file of the checkout reached)."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_installs_and_its_commands_run_outside_the_checkout(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    assert "deprecated" not in built.stderr.lower(), built.stderr
    (wheel,) = (tmp_path / "dist").glob("edge_lstm-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "edge_lstm/demo/bundle/manifest.json" in names and "firmware_sim/scenarios/pump-cavitation.toml" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "research/", "tools/"))]
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                                str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def edge_lstm(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "import sys; from edge_lstm.cli import main; sys.exit(main())",
                               *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    where = subprocess.run([sys.executable, "-c", "import edge_lstm; print(edge_lstm.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    assert edge_lstm("--version").stdout.startswith("edge-lstm ")
    assert "pump-cavitation" in edge_lstm("sim", "list").stdout
    assert "[anomaly]" in edge_lstm("serve", "--print-config").stdout
    inspected = edge_lstm("inspect", str(site / "edge_lstm" / "demo" / "bundle"))
    assert inspected.returncode == 0 and "verified" in inspected.stderr + inspected.stdout, inspected.stderr
