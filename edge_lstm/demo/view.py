"""The demo's live terminal view (rich): per stream the last value, forecast, score and incidents,
and the daemon's throughput; a plain progress line when the output is not a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text


def _num(x: float | None, digits: int = 3) -> str:
    return "" if x is None else f"{x:.{digits}g}"


def render(header: dict[str, Any], streams: dict[str, dict[str, Any]], active_faults: set[str],
           threshold: float) -> Group:
    """One frame: a header line and the stream table."""
    title = Text.assemble(
        ("edge-lstm demo  ", "bold"),
        f"simulated {header['simulated']}  ·  wall {header['wall_s']:.0f}/{header['duration_s']:.0f} s  ·  "
        f"{header['rate']:,.0f} samples/s  ·  anomaly events {header['anomaly_events']}  ·  forecasts "
        f"{header['forecast_events']}  ·  rejected payloads {header['errors']}  ·  {header['broker']}",
    )
    # (short headers: the table fits 80 columns, the stream's name giving way first)
    table = Table(expand=False, header_style="bold", caption="exp: what was forecast for the value; next: the "
                  "next forecast; inc: incidents", caption_justify="left")
    table.add_column("stream", no_wrap=True, overflow="ellipsis", min_width=12, max_width=26)
    for column in ("samples", "value", "exp", "next", "score", "inc"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("truth", no_wrap=True)
    for name, s in streams.items():
        score = s["score"]
        style = "bold red" if score is not None and score > threshold else ""
        incidents = f"{s['incidents']}" + ("+" if s["open"] else "")
        forecast = _num(s["forecast"]) + ("*" if s.get("forecaster") == "last_value" else "")
        table.add_row(name, f"{s['samples']:,}", _num(s["value"]), _num(s["expected"]), forecast,
                      Text("" if score is None else f"{score:.2f}", style=style),
                      Text(incidents, style="red" if s["open"] else ""),
                      Text("fault" if name in active_faults else "", style="yellow"))
    notes = []
    if header.get("gathering"):
        notes.append(Text(f"each stream's first {header['gathering']} samples are gathered for its scaling before "
                          "it is stepped", "dim"))
    if any(s.get("forecaster") == "last_value" for s in streams.values()):
        notes.append(Text("* the last value: the model has lately forecast this stream worse (forecast.fallback)",
                          "dim"))
    if any(s["open"] for s in streams.values()):
        notes.append(Text("+ an incident is open", "dim"))
    return Group(title, table, *notes)


def line(header: dict[str, Any], streams: dict[str, dict[str, Any]]) -> str:
    """One progress line for logs."""
    incidents = sum(s["incidents"] for s in streams.values())
    return (f"[demo] {header['wall_s']:.0f}/{header['duration_s']:.0f} s, simulated {header['simulated']}: "
            f"{sum(s['samples'] for s in streams.values()):,} samples in {len(streams)} streams, "
            f"{incidents} incidents, {header['forecast_events']} forecasts, {header['errors']} rejected payloads")
