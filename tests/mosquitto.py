"""A real Mosquitto broker on a free loopback port, started and stopped by the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """One broker process: ``start()``, ``stop()`` (it can be restarted on the same port and store)."""

    def __init__(self, workdir: Path, extra_config: str = "") -> None:
        if MOSQUITTO is None:
            pytest.fail("mosquitto is not installed: `make test` installs it (apt-get install mosquitto)")
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 1000\n"
            "message_size_limit 0\n"
            f"log_dest file {self.dir}/mosquitto.log\n"
            # As root, mosquitto would switch to its own user, which cannot read the test's private files.
            + ("user root\n" if os.geteuid() == 0 else "") + extra_config
        )
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


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
