"""``edge-lstm sim``: simulated sensor nodes: list, export or publish scenarios."""

from __future__ import annotations

import argparse

from edge_lstm.cli.exits import EXIT_OK
from edge_lstm.errors import EdgeLSTMError


def run(args: argparse.Namespace) -> int:
    from firmware_sim.scenario import BUILTIN, ScenarioError, load_scenario

    try:
        if args.sim_command == "list":
            for name in BUILTIN:
                s = load_scenario(name)
                streams = sum(len(d.channels) for d in s.devices)
                print(f"{name:<16} {len(s.devices):>5} devices {streams:>6} streams {s.duration_s / 3600:>6.1f} h  "
                      f"{s.description}")
            return EXIT_OK
        scenario = load_scenario(args.scenario)
        if args.duration:
            from firmware_sim.scenario import parse_duration

            scenario = scenario.with_duration(parse_duration(args.duration, "--duration"))
    except ScenarioError as exc:
        raise EdgeLSTMError(f"scenario: {exc}") from None
    if args.sim_command == "export":
        from firmware_sim.export import export

        rows = export(scenario, args.out)
        print(f"wrote {len(rows)} series ({sum(rows.values()):,} samples) and labels.json to {args.out}")
        return EXIT_OK
    from edge_lstm.serve.broker import parse_broker_url
    from firmware_sim.publisher import publish

    try:
        broker = parse_broker_url(args.broker)
    except ValueError as exc:
        raise EdgeLSTMError(str(exc)) from None
    speed = 0.0 if args.speed == "max" else float(args.speed)
    try:
        report = publish(scenario, broker, speed=speed, ca_file=args.ca_file)
    except ConnectionError as exc:
        raise EdgeLSTMError(str(exc)) from None
    print(f"published {report.messages:,} messages ({report.samples:,} samples) in {report.seconds:.1f} s: "
          f"{report.rate:,.0f} messages/s; {dict(report.kinds)}")
    return EXIT_OK


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="simulated sensor nodes: list, export or publish scenarios",
                       description="Simulated rotating machines with wear, faults and firmware quirks.")
    sim = p.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)
    sim.add_parser("list", help="list the built-in scenarios")
    q = sim.add_parser("export", help="write a scenario to CSV files and a labels JSON (no broker)")
    q.add_argument("scenario", help="a built-in scenario name or a TOML file")
    q.add_argument("--out", required=True, metavar="DIR", help="output directory")
    q.add_argument("--duration", help="override the scenario's duration (e.g. 2h)")
    q = sim.add_parser("run", help="publish a scenario over MQTT")
    q.add_argument("scenario", help="a built-in scenario name or a TOML file")
    q.add_argument("--broker", default="mqtt://localhost:1883", help="mqtt[s]://[user:pass@]host:port")
    q.add_argument("--speed", default="1", help="simulated seconds per wall second, or 'max' (default 1)")
    q.add_argument("--duration", help="override the scenario's duration (e.g. 10m)")
    q.add_argument("--ca-file", help="CA certificate for mqtts://")
    p.set_defaults(func=run)
