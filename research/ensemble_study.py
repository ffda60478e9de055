"""Does averaging the forecasts of several models (training seeds) detect better than one model?

A model's idiosyncratic misses at normal points are records the forecast view reports (a sharper model makes larger
ones: docs/evaluation.md, the training budget); an anomaly surprises every model. This study replays a set through
the daemon's engine with an ensemble of bundles trained alike, their one-step forecasts averaged, and scores it as
`edge-lstm evaluate --standardise probation` does:

    python research/ensemble_study.py ../shared/data/ucr-dev build/evaluate/ucr-dev/seed{0,1,2}/bundle --out DIR

Every bundle must share its input scaling (the same `train` options on the same data, seeds apart).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import edge_lstm
from edge_lstm.evaluate.corpus import evaluate
from edge_lstm.serve.config import settings_config


class EnsembleBank:
    """One bank per model, stepped together; the outputs averaged."""

    def __init__(self, banks: list) -> None:
        self.banks = banks
        self.n = banks[0].n

    def __len__(self) -> int:
        return self.n

    def step(self, x: np.ndarray, streams=None) -> np.ndarray:
        return np.mean([bank.step(x, streams=streams) for bank in self.banks], axis=0)

    def advance(self, i: int, x: np.ndarray) -> np.ndarray:
        return np.mean([bank.advance(i, x) for bank in self.banks], axis=0)

    def reset(self, i=None) -> None:
        for bank in self.banks:
            bank.reset(i)

    @property
    def state(self) -> dict[str, np.ndarray]:
        return {f"{k}#{m}": v for m, bank in enumerate(self.banks) for k, v in bank.state.items()}

    @state.setter
    def state(self, value: dict[str, np.ndarray]) -> None:
        for m, bank in enumerate(self.banks):
            bank.state = {k.rsplit("#", 1)[0]: v for k, v in value.items() if k.endswith(f"#{m}")}


class Ensemble:
    """The first model's bundle, spec and backend; streams stepping every model."""

    def __init__(self, models: list) -> None:
        self.models = models
        self.bundle, self.spec, self.backend = models[0].bundle, models[0].spec, models[0].backend
        self.features, self.outputs = models[0].features, models[0].outputs

    def streams(self, n: int) -> EnsembleBank:
        return EnsembleBank([m.streams(n) for m in self.models])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--backend", default="numba-int8")
    args = parser.parse_args()
    model = Ensemble([edge_lstm.load(b, backend=args.backend) for b in args.bundles])
    data = Path(args.data)
    summary = evaluate(model, data, data / "combined_windows.json", Path(args.out), config=settings_config([]),
                       standardise="probation", plots=False, progress=False)
    inc = summary["incidents"]
    print(json.dumps({"nab": round(summary["nab"]["standard"]["score"], 2), "windows": inc["detected"],
                      "false": inc["false"], "f1": round(inc["f1"], 3)}))


if __name__ == "__main__":
    main()
