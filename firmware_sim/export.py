"""Write a scenario to plain files: one NAB-style CSV per stream and a labels JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edge_lstm.evaluate.labelled import nab_time
from firmware_sim.generate import blocks, fault_kinds, labels, outside
from firmware_sim.scenario import Scenario


def export(scenario: Scenario, out: str | Path) -> dict[str, int]:
    """Write ``<out>/<device>/<channel>.csv`` (``timestamp,value``; dropped samples omitted) and
    ``<out>/labels.json`` (``{"<device>/<channel>.csv": [[start, end], ...]}``); return rows per file."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files, rows = {}, {}
    try:
        for block in blocks(scenario):
            for s in block:
                name = f"{s.device.name}/{s.channel}.csv"
                if name not in files:
                    (out / s.device.name).mkdir(exist_ok=True)
                    files[name] = (out / name).open("w", encoding="utf-8", newline="\n")
                    files[name].write("timestamp,value\n")
                    rows[name] = 0
                keep = ~s.dropped
                files[name].writelines(f"{nab_time(t)},{v:.4f}\n" for t, v in zip(s.t[keep], s.values[keep],
                                                                                   strict=True))
                rows[name] += int(keep.sum())
    finally:
        for f in files.values():
            f.close()
    for fault in outside(scenario):
        print(f"warning: {fault} begins after the exported {scenario.duration_s / 3600:g} h: not labelled",
              file=sys.stderr)
    windows = {f"{k}.csv": [[nab_time(a), nab_time(b)] for a, b in v] for k, v in labels(scenario).items()}
    (out / "labels.json").write_text(json.dumps(windows, indent=2) + "\n", encoding="utf-8")
    kinds = {f"{k}.csv": v for k, v in fault_kinds(scenario).items()}
    (out / "fault_kinds.json").write_text(json.dumps(kinds, indent=2) + "\n", encoding="utf-8")
    return rows
