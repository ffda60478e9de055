"""A shared model whose readout adapts per stream on the device (issue 22, item 6): does it detect better?

Each stream keeps a correction to the model's forecast, linear in the model's last hidden features (the output of
the Dense layer before the readout, and 1), learned online by recursive least squares with forgetting ``lambda`` on
the stream's own next value; it starts at 0 with covariance ``p0`` times the identity (``--p0 0``: no adaptation,
the same path unadapted, the control). The model runs on the NumPy reference kernel. Scored as
`edge-lstm evaluate --standardise probation` scores:

    python research/rls_readout_study.py ../shared/data/ucr-dev build/evaluate/ucr-dev/seed0/bundle --out DIR \
        [--forgetting 0.999] [--p0 0.1]

For a one-feature model whose output forecasts its next input (`train --difference`, horizon 1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import edge_lstm
from edge_lstm.evaluate.corpus import evaluate
from edge_lstm.serve.config import settings_config

#: The layers from the readout on (Dense 1 and the output's affine rescaling): the features are what enters them.
READOUT_LAYERS = 2


class RLSBank:
    """Streams of the reference kernel, each with its own recursive-least-squares correction of the readout."""

    def __init__(self, model: edge_lstm.Model, n: int, forgetting: float, p0: float) -> None:
        self.model, self.kernel, self.n = model, model.kernel, n
        self.forgetting, self.p0 = forgetting, p0
        self._state = self.kernel.new_state(n)
        d = model.spec.layers[-READOUT_LAYERS - 1].units + 1
        self.theta = np.zeros((n, d))
        self.cov = np.repeat(np.eye(d)[None] * p0, n, axis=0)
        self.last_phi = np.zeros((n, d))
        self.last_y = np.zeros(n)
        self.has_last = np.zeros(n, bool)

    def __len__(self) -> int:
        return self.n

    def _learn(self, rows: np.ndarray, target: np.ndarray) -> None:
        rows, target = rows[self.has_last[rows]], target[self.has_last[rows]]
        if not rows.size or self.p0 <= 0:
            return
        phi, cov = self.last_phi[rows], self.cov[rows]
        error = target - self.last_y[rows]
        p_phi = np.einsum("kij,kj->ki", cov, phi)
        gain = p_phi / (self.forgetting + np.einsum("ki,ki->k", phi, p_phi))[:, None]
        self.theta[rows] += gain * error[:, None]
        self.cov[rows] = (cov - gain[:, :, None] * p_phi[:, None, :]) / self.forgetting

    def step(self, x: np.ndarray, streams=None) -> np.ndarray:
        rows = np.arange(self.n) if streams is None else np.atleast_1d(np.asarray(streams, np.int64))
        x = np.asarray(x, np.float32).reshape(rows.size, -1)
        self._learn(rows, x[:, 0].astype(np.float64))
        spec, s = self.model.spec, self._state[rows]
        v = x * spec.input_scale + spec.input_offset
        for layer in spec.layers[:-READOUT_LAYERS]:
            v = self.kernel._layer(layer, v, s)
        phi = np.concatenate([v.astype(np.float64), np.ones((rows.size, 1))], axis=1)
        for layer in spec.layers[-READOUT_LAYERS:]:
            v = self.kernel._layer(layer, v, s)
        self._state[rows] = s
        y = v.astype(np.float64)
        y[:, 0] += np.einsum("ki,ki->k", self.theta[rows], phi)
        self.last_phi[rows], self.last_y[rows], self.has_last[rows] = phi, y[:, 0], True
        return y.astype(np.float32)

    def advance(self, i: int, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self.step(row[None], streams=[i]) for row in np.asarray(x)])

    def reset(self, i=None) -> None:
        rows = np.arange(self.n) if i is None else np.atleast_1d(np.asarray(i, np.int64))
        self.kernel.reset_rows(self._state, rows)
        self.theta[rows], self.has_last[rows] = 0.0, False
        self.cov[rows] = np.eye(self.theta.shape[1]) * self.p0

    @property
    def state(self) -> dict[str, np.ndarray]:
        return {"rows": self._state.copy()}

    @state.setter
    def state(self, value: dict[str, np.ndarray]) -> None:
        raise NotImplementedError("the study's banks are made as large as the evaluation needs")


class RLSModel:
    """A bundle on the reference kernel whose streams adapt their readout."""

    def __init__(self, bundle: str, forgetting: float, p0: float) -> None:
        self.model = edge_lstm.load(bundle, backend="numpy")
        self.bundle, self.spec, self.features, self.outputs = (self.model.bundle, self.model.spec,
                                                               self.model.features, self.model.outputs)
        self.backend = f"numpy+rls({forgetting}, {p0})"
        self.forgetting, self.p0 = forgetting, p0

    def streams(self, n: int) -> RLSBank:
        return RLSBank(self.model, n, self.forgetting, self.p0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("bundle")
    parser.add_argument("--out", required=True)
    parser.add_argument("--forgetting", type=float, default=0.999)
    parser.add_argument("--p0", type=float, default=0.1)
    args = parser.parse_args()
    model = RLSModel(args.bundle, args.forgetting, args.p0)
    data = Path(args.data)
    summary = evaluate(model, data, data / "combined_windows.json", Path(args.out), config=settings_config([]),
                       standardise="probation", plots=False, progress=False)
    inc = summary["incidents"]
    print(json.dumps({"nab": round(summary["nab"]["standard"]["score"], 2), "windows": inc["detected"],
                      "false": inc["false"], "f1": round(inc["f1"], 3)}))


if __name__ == "__main__":
    main()
