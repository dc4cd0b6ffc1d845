"""Retrieval rails: screen each retrieved chunk for instructions aimed at the assistant
(indirect prompt injection) and drop or neutralise it per policy."""

from __future__ import annotations

import re

from osp.governance.decisions import Allow, Alter, Change, Decision, Reason, Stage
from osp.governance.detectors.classify import Classifier
from osp.governance.detectors.linear import ModelStore
from osp.governance.detectors.normalize import normalize
from osp.governance.detectors.rules import RETRIEVAL_EVIDENCE, RETRIEVAL_RULES, best
from osp.governance.interfaces import RailContext, RailDeps
from osp.governance.policy import Policy, RailSettings
from osp.governance.rails.base import BaseRail
from osp.governance.rails.common import UnicodeRail

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*\n?|\n")
NEUTRALISED = "[content removed by retrieval guard]"


def retrieval_classifier(models: ModelStore) -> Classifier:
    """The rail's detector (also what bench/governance/bench_retrieval.py measures): the
    injection model, counted only on a chunk that talks to or about an AI, and rules for
    instructions aimed at the assistant rather than at the document's human reader."""
    return Classifier(models, "injection", RETRIEVAL_RULES, RETRIEVAL_EVIDENCE)


class RetrievalUnicodeRail(UnicodeRail):
    key = "retrieval.unicode"
    stage = Stage.RETRIEVAL


class RetrievalInjectionRail(BaseRail):
    key = "retrieval.injection"
    stage = Stage.RETRIEVAL

    def __init__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> None:
        super().__init__(settings, policy, deps)
        self._clf = retrieval_classifier(deps.models)
        self._clf.warm()

    def check(self, text: str, ctx: RailContext) -> Decision:
        v = self._clf.classify(text)
        threshold = self.policy.thresholds.retrieval_injection
        scores = {**v.scores("retrieval_injection"), "threshold.retrieval_injection": threshold}
        if v.score < threshold and not v.normalized.tags:
            return Allow(scores)
        if self.policy.retrieval.on_injection == "drop":
            return self.reject(Reason.INDIRECT_INJECTION, scores)
        return self._neutralise(text, scores)

    def _neutralise(self, text: str, scores: dict[str, float]) -> Decision:
        """Remove the sentences that carry instructions; if none stands out, replace the chunk.
        Whatever survives is still data, never instructions, to the agent."""
        kept: list[str] = []
        changes: list[Change] = []
        for m in _SENTENCE.finditer(text):
            sentence = m.group()
            if best(RETRIEVAL_RULES, normalize(sentence).text)[0] >= 0.5:
                changes.append(Change("instruction", m.start(), m.end()))
                kept.append(NEUTRALISED + " ")
            else:
                kept.append(sentence)
        if not changes:
            return Alter(NEUTRALISED, (Change("chunk", 0, len(text)),), scores)
        return Alter("".join(kept).rstrip(), tuple(changes), scores)
