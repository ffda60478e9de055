"""Does a view of the model's own state find what the other views miss? (issue 22: use the model more)

A sixth view, beside the detector's: per stream, the last recurrent layer's hidden state h after each sample, its
distance (RMS over the units) to the nearest state of the last ``--memory`` samples that is at least ``--exclusion``
samples old, judged against the largest such distance the stream has shown (a record, as the pattern view judges:
kept once half a memory was searched, damped while under ``--gate`` times the mean distance, a record learned at
most twice the bar). Options: ``--margin`` (news only that share past the bar), ``--smooth N`` (the mean of the
last N distances judged), ``--agree R`` (a record counts only while the pattern view's ratio at the sample before
was at least R, unless it is ``--alone`` past its bar), ``--tail-rate`` (the bar also at least the forecast view's
tail floor, fitted to these distances), ``--fresh-bar`` (the bar learned again after the join). Its ratio enters
the detector as the relation view's does (the larger counts), so the incidents, scores and summaries are
`edge-lstm evaluate`'s own, on the bundle's numba-int8 path (the model stepped one sample at a time, to read each
state):

    python research/state_novelty_study.py build/evaluate --sets nab-dev,smap,ucr-dev --seeds 0,1,2 --out DIR

``--off`` runs the same path without the view (the control: it reads as the table does).
"""

from __future__ import annotations

import argparse
import json
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import edge_lstm
from edge_lstm.detect.step import tail_floor
from edge_lstm.evaluate.corpus import evaluate
from edge_lstm.runtime.model import StreamBank
from edge_lstm.serve.config import settings_config
from edge_lstm.stream.engine import Engine

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
JOIN_SKIP = 64  # samples after a join not judged (the pattern view's rule)
TAIL_BLOCK = 32  # samples per block maximum of the tail floor's fit (the forecast view's tail_block)


class StateView:
    """One stream's memory of states and its bar."""

    def __init__(self, units: int, memory: int, exclusion: int, gate: float, warmup: int, margin: float,
                 smooth: int, tail_rate: float) -> None:
        self.ring = np.zeros((memory + exclusion, units), np.float32)
        self.memory, self.exclusion, self.gate, self.warmup, self.margin = memory, exclusion, gate, warmup, margin
        self.recent: deque[float] = deque(maxlen=smooth)  # the last ``smooth`` distances, whose mean is judged
        self.tail_rate = tail_rate  # the forecast view's tail floor on the distances (a Gumbel fit to block maxima)
        self.seen, self.kept, self.count, self.mean, self.bar = 0, 0, 0, 0.0, 0.0
        self.rejoined, self.relearn = False, 0  # (the bar restarted at the join; distances kept before it judges)
        self.block_max, self.block_fill, self.blocks, self.block_mean, self.block_m2 = 0.0, 0, 0, 0.0, 0.0

    def restart_bar(self) -> None:
        """Forget the bar (not the memory of states): it is learned again from half a memory of distances."""
        self.rejoined, self.bar, self.kept, self.relearn = True, 0.0, 0, self.memory // 2
        self.block_max, self.block_fill, self.blocks, self.block_mean, self.block_m2 = 0.0, 0, 0, 0.0, 0.0

    def step(self, h: np.ndarray) -> float:
        """Learn state ``h``; return its ratio against the bar (0 while the bar is young)."""
        size = self.ring.shape[0]
        old = self.seen - self.exclusion  # states numbered below this may be compared
        ratio, distance = 0.0, -1.0
        if old > 0:
            first = max(0, old - self.memory)
            idx = np.arange(first, old) % size
            distance = float(np.sqrt(((self.ring[idx] - h) ** 2).mean(axis=1).min()))
        self.ring[self.seen % size] = h
        self.seen += 1
        if distance < 0.0:
            return 0.0
        if self.recent.maxlen > 1:
            self.recent.append(distance)
            distance = sum(self.recent) / len(self.recent)
        self.count += 1
        self.mean += (distance - self.mean) / min(self.count, 100)
        if self.kept >= max(self.warmup, self.relearn) and self.bar > 0.0:
            bar = max(self.bar, tail_floor(self.blocks, self.block_mean, self.block_m2, self.tail_rate, TAIL_BLOCK,
                                           1.0)) if self.tail_rate > 0.0 else self.bar
            ratio = distance / bar * min(1.0, distance / max(self.gate * self.mean, 1e-12))
            if ratio > 1.0:
                distance = min(distance, 2.0 * self.bar)
        if self.seen >= self.memory // 2:
            self.bar = max(self.bar, distance)
            self.kept += 1
            self.block_max, self.block_fill = max(self.block_max, distance), self.block_fill + 1
            if self.block_fill >= TAIL_BLOCK:
                self.blocks += 1
                d = self.block_max - self.block_mean
                self.block_mean += d / self.blocks
                self.block_m2 += d * (self.block_max - self.block_mean)
                self.block_max, self.block_fill = 0.0, 0
        return ratio / (1.0 + self.margin)


def install(memory: int, exclusion: int, gate: float, warmup: int, margin: float, agree: float, alone: float,
            smooth: int, tail_rate: float, fresh: bool) -> None:
    """Patch the bank's sequence path (per-sample states) and the engine's scoring (the view's ratios)."""

    def advance(self: StreamBank, i: int, x: np.ndarray) -> np.ndarray:
        x = self.model._check_input(np.asarray(x), (len(x),), "x")
        spec = self.model.spec
        slot = [s for s in spec.state_slots if s.key.endswith("/h")][-1]
        views = self.__dict__.setdefault("views", {})
        view = views.setdefault(int(i), StateView(slot.size, memory, exclusion, gate, warmup, margin, smooth,
                                                  tail_rate))
        out, states = [], np.zeros((len(x), slot.size), np.float32)
        for t in range(len(x)):
            out.append(self._kernel.run(self._state[int(i) : int(i) + 1], x[None, t : t + 1])[0])
            states[t] = self._kernel.export_state(self._state[int(i) : int(i) + 1])[0, slot.offset : slot.offset
                                                                                       + slot.size]
        self.states, self.view = states, view
        return np.concatenate(out)

    original = Engine._score

    def score(self: Engine, idx, ts, value, expected, naive, relation=None):
        states = self._bank.__dict__.get("states")
        if states is None or len(states) < len(idx) or len(np.unique(idx)) != 1:
            return original(self, idx, ts, value, expected, naive, relation)
        i = int(idx[0])
        join, resumed = float(self.detector.resume_ts[i]), int(self.detector.resumed[i])
        view, prefix = self._bank.view, len(states) - len(idx)
        ratios = np.zeros(len(states))
        for t in range(len(states)):
            if fresh and t >= prefix and np.isfinite(join) and ts[t - prefix] >= join and not view.rejoined:
                view.restart_bar()  # the bar learned again from the stream's own samples after the join
            ratios[t] = view.step(states[t])
        mine = ratios[prefix:]
        self._bank.states = None
        if np.isfinite(join):
            after = np.cumsum(ts >= join)
            mine[after < JOIN_SKIP] = 0.0
        elif resumed >= 0:
            since = self.detector.seen[i] - resumed + np.arange(len(idx))
            mine[since < JOIN_SKIP] = 0.0
        if agree <= 0.0:
            merged = mine if relation is None else np.maximum(relation, mine)
            return original(self, idx, ts, value, expected, naive, merged)
        # Agreement: the state's record counts only while the pattern view's ratio of the sample before was at
        # least ``agree`` (or the record is ``alone`` past its bar); one sample at a time, to know that ratio.
        last = self.__dict__.setdefault("last_pattern", {})
        events, results = [], []
        for j in range(len(idx)):
            r = mine[j:j + 1]
            if r[0] < alone and last.get(i, 0.0) < agree:
                r = np.zeros(1)
            if relation is not None:
                r = np.maximum(relation[j:j + 1], r)
            found, result = original(self, idx[j:j + 1], ts[j:j + 1], value[j:j + 1], expected[j:j + 1],
                                     naive[j:j + 1], r)
            last[i] = float(result.pattern[0])
            events.extend(found)
            results.append(result)
        merged = type(results[0])(*(np.concatenate([getattr(r, f) for r in results])
                                    for f in results[0].__dataclass_fields__))
        return events, merged

    StreamBank.advance = advance
    Engine._score = score


def job(args: tuple) -> dict:
    name, seed, bundles, out, params, off = args
    if not off:
        install(*params)
    model = edge_lstm.load(str(Path(bundles) / name / f"seed{seed}" / "bundle"), backend="numba-int8")
    data = DATA / name
    summary = evaluate(model, data, data / "combined_windows.json", Path(out) / name / f"seed{seed}" / "numba-int8",
                       config=settings_config([]), standardise="probation", plots=False, progress=False)
    inc = summary["incidents"]
    return {"set": name, "seed": seed, "nab": round(summary["nab"]["standard"]["score"], 2),
            "windows": inc["detected"], "false": inc["false"], "f1": round(inc["f1"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles")
    parser.add_argument("--sets", default="nab-dev,smap,ucr-dev")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", required=True)
    parser.add_argument("--memory", type=int, default=1200)
    parser.add_argument("--exclusion", type=int, default=64)
    parser.add_argument("--gate", type=float, default=3.0)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--margin", type=float, default=0.0, help="news only this share past the bar")
    parser.add_argument("--agree", type=float, default=0.0, help="the state's record counts only while the pattern "
                        "ratio is at least this (0: always)")
    parser.add_argument("--alone", type=float, default=1.5, help="... or the record's ratio at least this")
    parser.add_argument("--smooth", type=int, default=1, help="judge the mean of the last N distances")
    parser.add_argument("--tail-rate", type=float, default=0.0, help="the bar at least the distance exceeded once in "
                        "1 / this samples, with one standard error (the forecast view's tail floor; 0: off)")
    parser.add_argument("--fresh-bar", action="store_true", help="learn the bar again after the join (from the "
                        "scored rows' own distances, as a daemon would: it never replays the training rows)")
    parser.add_argument("--off", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    params = (args.memory, args.exclusion, args.gate, args.warmup, args.margin, args.agree, args.alone,
              args.smooth, args.tail_rate, args.fresh_bar)
    jobs = [(name, int(seed), args.bundles, args.out, params, args.off)
            for name in args.sets.split(",") for seed in args.seeds.split(",")]
    with ProcessPoolExecutor(args.jobs) as pool:
        for result in pool.map(job, jobs):
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
