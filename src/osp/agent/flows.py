"""Dialog flows (allowed paths): when a message matches a flow's intent, the agent answers
with that flow's predefined steps, one per turn, instead of generating freely.

Matching is deterministic: the share of an example utterance's content words found in the
message (after the input rails). The best flow at or above its threshold wins. The position
in a flow is kept per conversation on ``/data``, so a restart resumes the flow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from osp.agent.config import Flow
from osp.agent.knowledge import _tokens


@dataclass(frozen=True)
class FlowStep:
    flow: str
    step: int
    text: str
    score: float
    last: bool


def similarity(message: str, example: str) -> float:
    wanted = set(_tokens(example))
    if not wanted:
        return 0.0
    return len(wanted & set(_tokens(message))) / len(wanted)


def best_flow(message: str, flows: Sequence[Flow]) -> tuple[Flow, float] | None:
    best: tuple[Flow, float] | None = None
    for flow in flows:
        score = max(similarity(message, ex) for ex in flow.examples)
        if score >= flow.threshold and (best is None or score > best[1]):
            best = (flow, score)
    return best


class FlowState:
    def __init__(self, root: Path) -> None:
        self.dir = root / "memory" / "flows"
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, channel: str, user: str) -> Path:
        return self.dir / (hashlib.sha256(f"{channel}:{user}".encode()).hexdigest()[:32] + ".json")

    def next_step(self, channel: str, user: str, message: str,
                  flows: Sequence[Flow]) -> FlowStep | None:
        path = self._path(channel, user)
        by_name = {f.name: f for f in flows}
        active: tuple[Flow, int] | None = None
        if path.exists():
            try:
                saved = json.loads(path.read_text())
                flow = by_name.get(saved.get("flow", ""))
                if flow is not None and 0 < int(saved.get("step", 0)) < len(flow.steps):
                    active = (flow, int(saved["step"]))
            except (ValueError, TypeError):
                active = None
        match = best_flow(message, flows)
        # A message matching a flow (re)starts it; otherwise an unfinished flow continues.
        if match is not None:
            flow, step, score = match[0], 0, match[1]
        elif active is not None:
            flow, step, score = active[0], active[1], 1.0
        else:
            return None
        last = step + 1 >= len(flow.steps)
        if last:
            path.unlink(missing_ok=True)
        else:
            path.write_text(json.dumps({"flow": flow.name, "step": step + 1}))
        return FlowStep(flow.name, step, flow.steps[step], round(score, 3), last)
