"""Output content safety and the optional self-check (sampled agreement) rail."""

from __future__ import annotations

import re

from osp.governance.decisions import Allow, Decision, Reason, Stage
from osp.governance.interfaces import RailContext, RailDeps
from osp.governance.policy import Policy, RailSettings
from osp.governance.rails.base import BaseRail
from osp.governance.rails.input.classifiers import InputModerationRail

_TOKEN = re.compile(r"\w+")


class OutputModerationRail(InputModerationRail):
    """The same content-safety model on the reply, with the output threshold."""

    key = "output.moderation"
    stage = Stage.OUTPUT
    threshold_field = "output_harmful"

    def threshold(self) -> float:
        return self.policy.thresholds.output_harmful


def _jaccard(a: str, b: str) -> float:
    sa, sb = set(_TOKEN.findall(a.lower())), set(_TOKEN.findall(b.lower()))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


class SelfCheckRail(BaseRail):
    """Samples more answers from the tenant's model and flags an answer the samples disagree
    with. Costs extra model calls, so it is only in the `full` preset and usually advisory."""

    key = "output.self_check"
    stage = Stage.OUTPUT
    samples = 3

    def __init__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> None:
        super().__init__(settings, policy, deps)
        if deps.sampler is None:
            raise ValueError("output.self_check needs a model sampler (RailDeps.sampler)")
        self._sampler = deps.sampler

    def check(self, text: str, ctx: RailContext) -> Decision:
        if not ctx.prompt:
            return Allow()
        samples = list(self._sampler.sample(ctx.prompt, self.samples))
        if not samples:
            raise RuntimeError("sampler returned no samples")
        agreement = sum(_jaccard(text, s) for s in samples) / len(samples)
        threshold = self.policy.thresholds.self_check_agreement
        scores = {"self_check.agreement": round(agreement, 4),
                  "threshold.self_check_agreement": threshold}
        if agreement < threshold:
            return self.reject(Reason.SELF_CHECK_DISAGREEMENT, scores)
        return Allow(scores)
