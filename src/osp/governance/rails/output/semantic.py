"""The semantic tier on the reply: the encoder's harmful-request head, before a reply leaves.

In a deployment it runs at the gateway on the control plane (``osp.gateway.rails``), after the
agent's own output rails, so a compromised agent container cannot skip it.
"""

from __future__ import annotations

from osp.governance.decisions import Decision, Reject, Stage
from osp.governance.interfaces import RailContext
from osp.governance.rails.input.classifiers import harm_decision
from osp.governance.rails.input.semantic import SemanticRail


class OutputSemanticRail(SemanticRail):
    key = "output.semantic"
    stage = Stage.OUTPUT
    heads = ("harmful",)

    def check(self, text: str, ctx: RailContext) -> Decision:
        assessed = self.assessed(text)
        if isinstance(assessed, Reject):
            return assessed
        got, learned = assessed
        threshold = self.policy.thresholds.semantic_harmful
        scores = {"semantic.harmful": round(got["harmful"], 4),
                  "threshold.semantic_harmful": threshold}
        # The tenant's moderation policy (categories allowed, per-category thresholds) applies
        # to replies as it does to requests.
        return harm_decision(self, text, got["harmful"], threshold, scores, learned=learned)
