"""``edge-lstm serve``: the MQTT daemon."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from edge_lstm.cli.exits import EXIT_OK
from edge_lstm.errors import EdgeLSTMError

if TYPE_CHECKING:
    from edge_lstm.serve.daemon import Daemon


def run(args: argparse.Namespace) -> int:
    import logging

    from edge_lstm.serve.config import FLAG_KEYS, ConfigError, example_toml, load_config

    if args.print_config:
        print(example_toml(), end="")
        return EXIT_OK

    overrides: dict[str, object] = {}
    for flag, dotted in FLAG_KEYS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[dotted] = value
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise EdgeLSTMError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        overrides[key.strip()] = value
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        raise EdgeLSTMError(f"config: {exc}") from None
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.verbose:  # (edge-lstm's own: Numba's DEBUG logs its compiler's every step)
        logging.getLogger("edge_lstm").setLevel(logging.DEBUG)
    if config["amqp"]["url"]:
        return _shard_worker(config, args.check)
    from edge_lstm.serve.daemon import Daemon

    metrics_port = config["stats"]["metrics_port"]
    if args.check:  # (a running daemon may hold the port: --check does not open it)
        config["stats"]["metrics_port"] = 0
    try:
        daemon = Daemon(config)
    except ConfigError as exc:
        raise EdgeLSTMError(f"config: {exc}") from None
    if args.check:
        print(_serve_plan(daemon, metrics_port))
        return EXIT_OK
    return daemon.run()


def _shard_worker(config: dict, check: bool) -> int:
    """``serve --amqp URL``: a shard worker on RabbitMQ (edge_lstm.shards.worker)."""
    from edge_lstm.shards.topology import own_shards
    from edge_lstm.shards.worker import ShardWorker

    try:
        worker = ShardWorker(config)
    except (ValueError, ImportError) as exc:
        raise EdgeLSTMError(f"amqp: {exc}") from None
    if check:
        ac = config["amqp"]
        print("configuration OK; the shard worker would:\n"
              f"  run the bundle {config['model']['bundle']} on {worker.model.backend}\n"
              f"  consume {ac['prefix']}.shard.<k> of {ac['shards']} shards at {worker._where()}, holding "
              f"{own_shards(ac['shards'], ac['workers'], ac['index'])} (worker {ac['index']} of {ac['workers']}) and "
              f"standing by for the others\n  snapshot each shard every {ac['snapshot_every_s']:g} s to "
              f"{ac['prefix']}.state.<k>; events to amq.topic as edge-lstm/{worker.node}/<kind>/<stream>")
        return EXIT_OK
    return worker.run()


def _serve_plan(daemon: Daemon, metrics_port: int) -> str:
    """What ``serve`` would do with this configuration (``--check``): nothing connected, nothing published."""
    config, bundle = daemon.config, daemon.model.bundle
    mc, ic, state = config["mqtt"], config["input"], config["state"]
    limit = (f"; at most {ic['max_streams']:,} streams, the least recently heard from evicted"
             if ic["max_streams"] else "")
    lines = [
        "configuration OK; the daemon would:",
        f"  run the bundle {config['model']['bundle']} (sha256 {bundle.sha256[:12]}…) on {daemon.model.backend}",
        f"  connect to {daemon.broker} (MQTT {mc['protocol']}, QoS {mc['qos']}) as edge-lstm/{daemon.node}",
        f"  subscribe to {', '.join(ic['subscribe'])} (stream id {ic['stream']}{limit})",
        f"  checkpoint to {state['checkpoint']}: {daemon.restored}" if state["checkpoint"] else
        "  keep no checkpoint (state.checkpoint is empty): a restart warms every stream up again",
    ]
    if metrics_port:
        lines.append(f"  serve Prometheus metrics on port {metrics_port}")
    return "\n".join(lines)


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the MQTT daemon: samples in, anomaly and forecast events out",
                       description="Subscribe to sensor topics, step the LSTM one sample at a time per stream, "
                                   "publish anomaly and forecast events. Every config key is also --set KEY=VALUE.")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (every key: --print-config)")
    p.add_argument("--print-config", action="store_true", help="print every configuration key with its default "
                   "and what it does, as TOML, and exit")
    p.add_argument("--bundle", help="model.bundle")
    p.add_argument("--backend", help="model.backend")
    p.add_argument("--broker", help="mqtt.broker: mqtt[s]://[user:pass@]host:port")
    p.add_argument("--amqp", help="amqp.url: run as a shard worker on RabbitMQ (docs/scaling.md)")
    p.add_argument("--subscribe", action="append", help="input.subscribe (repeatable)")
    p.add_argument("--node-id", dest="node_id", help="mqtt.node_id")
    p.add_argument("--checkpoint", help="state.checkpoint file")
    p.add_argument("--metrics-port", dest="metrics_port", type=int, help="stats.metrics_port (Prometheus)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="any other config key")
    p.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    p.add_argument("-v", "--verbose", action="store_true", help="also log every event as it is published")
    p.add_argument("--check", action="store_true", help="validate the configuration, load the bundle and the "
                   "checkpoint, say what the daemon would do, and exit without connecting (0: all is well)")
    p.set_defaults(func=run)
