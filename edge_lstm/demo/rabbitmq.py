"""A private RabbitMQ node (for tests, benchmarks and trying sharding out): Debian's rabbitmq-server on loopback
ports, its own data directory (a fresh one under the system's temporary folder, owned by the ``rabbitmq`` user when
run as root), the MQTT and consistent-hash exchange plugins enabled. Starts in ~10 s."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from edge_lstm.demo.brokers import free_port, reachable

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
PLUGINS = "[rabbitmq_mqtt,rabbitmq_consistent_hash_exchange]."


class RabbitMQ:
    """``start()`` a node; ``amqp_url`` and ``mqtt_port`` reach it; ``stop()`` ends it."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="edge-lstm-rabbitmq-"))
        self.amqp_port, self.mqtt_port, self.dist_port = free_port(), free_port(), free_port()
        self.node = f"edge{self.amqp_port}@localhost"
        self.process: subprocess.Popen | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/%2F"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    def start(self, timeout: float = 90) -> RabbitMQ:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        (d / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.mqtt_port}\n"
            "mqtt.allow_anonymous = true\nlog.console = false\nlog.file.level = warning\n")
        (d / "enabled_plugins").write_text(PLUGINS + "\n")
        env = {**os.environ, "HOME": str(d), "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.amqp_port),
               "RABBITMQ_DIST_PORT": str(self.dist_port), "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"), "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
               "RABBITMQ_LOG_BASE": str(d / "log"), "RABBITMQ_PID_FILE": str(d / "pid"),
               "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config")}
        user = None
        if os.geteuid() == 0:  # (RabbitMQ refuses nothing as root, but its files belong to its own user)
            user = "rabbitmq"
            owner = pwd.getpwnam(user)
            for path in [d, *d.rglob("*")]:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.log = open(d / "server.out", "wb")
        self.process = subprocess.Popen([str(SERVER)], env=env, user=user, cwd=d, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited {self.process.returncode}: {self.output()[-2000:]}")
            if reachable("127.0.0.1", self.amqp_port) and reachable("127.0.0.1", self.mqtt_port):
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"rabbitmq-server did not listen within {timeout} s: {self.output()[-2000:]}")

    def output(self) -> str:
        return (self.directory / "server.out").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self.process is not None:
            self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def available() -> str | None:
    """Why a node cannot be started here (None when it can)."""
    if not SERVER.exists():
        return "rabbitmq-server is not installed (make test installs Debian's package)"
    if shutil.which("erl") is None and not Path("/usr/lib/erlang/bin/erl").exists():
        return "Erlang is not installed"
    return None
