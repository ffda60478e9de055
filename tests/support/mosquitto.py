"""A real Mosquitto broker on a free loopback port, started and stopped by the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import edge_lstm.demo.brokers
from edge_lstm.demo.brokers import MOSQUITTO, free_port, user_line

__all__ = ["MOSQUITTO", "Mosquitto", "free_port", "mosquitto", "tls_password_broker"]



class Mosquitto(edge_lstm.demo.brokers.Mosquitto):
    """The package's private Mosquitto, failing the test (not erroring) when it is not installed."""

    def __init__(self, workdir: Path, extra_config: str = "") -> None:
        if MOSQUITTO is None:
            pytest.fail("mosquitto is not installed: `make test` installs it (apt-get install mosquitto)")
        super().__init__(workdir, extra_config)


@pytest.fixture
def mosquitto(tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


def make_tls_material(directory: Path) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (directory / n for n in ("ca.key", "ca.crt", "server.key", "server.csr",
                                                          "server.crt"))
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=edge-lstm test CA",
        "-keyout", str(ca_key), "-out", str(ca))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", str(cert))
    return {"ca": ca, "cert": cert, "key": key}


def tls_password_broker(workdir: Path, user: str, password: str) -> Mosquitto:
    """A broker that only accepts TLS connections with a username and password."""
    tls = make_tls_material(workdir / "tls")
    passwords = workdir / "passwords"
    workdir.mkdir(parents=True, exist_ok=True)
    passwords.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True, capture_output=True)
    broker = Mosquitto(workdir)
    text = broker.config.read_text().replace("allow_anonymous true\n", "allow_anonymous false\n")
    text = text.replace(f"listener {broker.port} 127.0.0.1\n",
                        f"listener {broker.port} 127.0.0.1\ncafile {tls['ca']}\ncertfile {tls['cert']}\n"
                        f"keyfile {tls['key']}\npassword_file {passwords}\n")
    broker.config.write_text(text)
    broker.ca = tls["ca"]
    return broker


def stock_broker(workdir: Path) -> Mosquitto:
    """Mosquitto with its own defaults (20 messages in flight and 1,000 queued per client), as installed."""
    broker = Mosquitto(workdir)
    broker.config.write_text(f"listener {broker.port} 127.0.0.1\nallow_anonymous true\n"
                             f"log_dest file {broker.dir}/mosquitto.log\n{user_line()}")
    return broker


DEPLOYED = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto.conf"


def deployed_broker(workdir: Path) -> Mosquitto:
    """deploy/mosquitto.conf as it would run on Debian: included (conf.d) by a copy of Debian's mosquitto.conf
    (persistence on, its location here), on a free loopback port instead of 1883."""
    broker = Mosquitto(workdir)
    conf_d = broker.dir / "conf.d"
    conf_d.mkdir(exist_ok=True)
    ours = DEPLOYED.read_text()
    assert "listener 1883 127.0.0.1\n" in ours
    (conf_d / "edge-lstm.conf").write_text(ours.replace("listener 1883 127.0.0.1\n",
                                                        f"listener {broker.port} 127.0.0.1\n"))
    broker.config.write_text(f"persistence true\npersistence_location {broker.dir}/\n"
                             f"log_dest file {broker.dir}/mosquitto.log\ninclude_dir {conf_d}\n{user_line()}")
    return broker
