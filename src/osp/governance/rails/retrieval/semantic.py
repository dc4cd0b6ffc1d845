"""The semantic tier on retrieved chunks: is there an instruction addressed to the assistant?

The document head was trained on clean documents with instructions planted at random positions,
so it looks for text that speaks to the AI, not for text that "sounds like an attack". Chunks are
scored in overlapping windows; the highest window decides, so a sentence after 2,000 benign
words is still seen on its own.
"""

from __future__ import annotations

from osp.governance.decisions import Allow, Alter, Change, Decision, Reason, Reject, Stage
from osp.governance.interfaces import RailContext
from osp.governance.rails.input.semantic import SemanticRail
from osp.governance.rails.retrieval.injection import NEUTRALISED


class RetrievalSemanticRail(SemanticRail):
    key = "retrieval.semantic"
    stage = Stage.RETRIEVAL
    heads = ("document",)

    def check(self, text: str, ctx: RailContext) -> Decision:
        got = self.head_scores(text)
        if isinstance(got, Reject):
            return got
        threshold = self.policy.thresholds.semantic_document
        scores = {"semantic.document": round(got["document"], 4),
                  "threshold.semantic_document": threshold}
        if got["document"] < threshold:
            return Allow(scores)
        if self.policy.retrieval.on_injection == "drop":
            return self.reject(Reason.INDIRECT_INJECTION, scores)
        return Alter(NEUTRALISED, (Change("chunk", 0, len(text)),), scores)
