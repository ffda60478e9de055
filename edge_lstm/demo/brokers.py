"""MQTT brokers for the demo, the tests and the benchmarks: a private Mosquitto on a free loopback port, or
an embedded amqtt broker in this process (when Mosquitto is not installed), or one already running; and
around them a fast publisher and ``edge-lstm serve`` in a subprocess.

amqtt is the maintained pure-Python broker (asyncio, MIT, releases in 2026); it speaks MQTT
3.1.1 only, so clients of an embedded broker use 3.1.1.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from edge_lstm.serve.broker import no_delay

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def user_line() -> str:
    """``user root`` for a Mosquitto started as root: it would otherwise switch to its own user, which cannot read
    our private files."""
    return "user root\n" if os.geteuid() == 0 else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0


class Mosquitto:
    """One Mosquitto process on a free loopback port: ``start()``, ``stop()`` (restartable on the
    same port and persistence store)."""

    kind = "mosquitto"
    protocol = "5"

    def __init__(self, workdir: Path | None = None, extra_config: str = "", persistence: bool = True) -> None:
        if MOSQUITTO is None:
            raise RuntimeError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.port = free_port()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="edge-lstm-mosquitto-")
        self.dir = Path(workdir or self._tmp.name)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"persistence {'true' if persistence else 'false'}\n"
            f"persistence_location {self.dir}/\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 1000\n"
            "message_size_limit 0\n"
            "set_tcp_nodelay true\n"  # no Nagle delay on small event messages (~40 ms otherwise)
            f"log_dest file {self.dir}/mosquitto.log\n"
            + user_line() + extra_config
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
            if reachable("127.0.0.1", self.port):
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


class EmbeddedBroker:
    """An amqtt broker on a free loopback port, in a background thread with its own event loop."""

    kind = "embedded amqtt"
    protocol = "3.1.1"

    def __init__(self) -> None:
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt-broker", daemon=True)
        self._broker = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        try:
            from amqtt.broker import Broker
        except ImportError as exc:
            raise RuntimeError(f"no Mosquitto and no amqtt ({exc}): pip install 'edge-lstm[demo]'") from None
        import logging

        logging.getLogger("amqtt").setLevel(logging.ERROR)
        self._thread.start()
        config = {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                  "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}}

        async def start() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(15)
        return self

    def stop(self) -> None:
        if self._broker is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(15)
            except Exception:  # a broker that fails to shut down cleanly is still let go
                pass
            self._broker = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


class ExistingBroker:
    """A broker someone else runs (given as a URL); nothing to start or stop."""

    kind = "existing"

    def __init__(self, url: str, protocol: str = "5") -> None:
        self.url, self.protocol = url, protocol

    def start(self) -> ExistingBroker:
        return self

    def stop(self) -> None:
        pass


def demo_broker(url: str | None = None, embedded: bool = False) -> Mosquitto | EmbeddedBroker | ExistingBroker:
    """The broker the demo uses: ``url`` if given; else a private Mosquitto when installed; else one
    listening on localhost:1883; else an embedded amqtt broker. Not started yet."""
    if url:
        return ExistingBroker(url)
    if embedded:
        return EmbeddedBroker()
    if MOSQUITTO is not None:
        return Mosquitto(persistence=False)
    if reachable("127.0.0.1", 1883):
        return ExistingBroker("mqtt://127.0.0.1:1883")
    return EmbeddedBroker()


def publisher(port: int, protocol: int = mqtt.MQTTv5) -> mqtt.Client:
    """A publishing client on localhost (``protocol``: MQTTv311 for RabbitMQ 3.10's plugin)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.time_ns()}", protocol=protocol)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 2)
    client.on_socket_open = no_delay
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


class DaemonProcess:
    """``edge-lstm serve`` in a subprocess."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "edge_lstm", "serve", *args],
                                        stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)

    def stop(self, sig: int = 15, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")
