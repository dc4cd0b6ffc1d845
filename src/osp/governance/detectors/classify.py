"""Combines a shipped linear model with the rule set for one task."""

from __future__ import annotations

import re
from dataclasses import dataclass

from osp.governance.detectors.linear import ModelStore
from osp.governance.detectors.normalize import Normalized, normalize
from osp.governance.detectors.rules import Rule, best, evidence


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float
    model: float
    rule: float
    category: str | None
    normalized: Normalized

    def scores(self, prefix: str) -> dict[str, float]:
        return {
            prefix: round(self.score, 4),
            f"{prefix}.model": round(self.model, 4),
            f"{prefix}.rule": self.rule,
        }


def model_counts(evidence_words: int, model: float) -> bool:
    """Whether a gated model's probability counts: two evidence words, or one when the model is
    very sure. (Held out, this kept unseen benign styles unflagged; see rules.ATTACK_EVIDENCE.)"""
    return evidence_words >= 2 or (evidence_words == 1 and model >= 0.9)


class Classifier:
    """score = max(gated model probability, best rule score). The model loads on first use.

    With an evidence pattern, the model's probability only counts when `model_counts` says so
    (see rules.ATTACK_EVIDENCE for why).
    """

    def __init__(
        self,
        models: ModelStore,
        model_name: str,
        rules: tuple[Rule, ...],
        evidence_pattern: re.Pattern[str] | None = None,
    ) -> None:
        self._models = models
        self._name = model_name
        self._rules = rules
        self._evidence = evidence_pattern

    def warm(self) -> None:
        self._models.get(self._name)

    def classify(self, text: str, normalized: Normalized | None = None) -> Verdict:
        norm = normalized or normalize(text)
        model = self._models.get(self._name).score_windows(self._models.features(norm.text))
        gated = model
        if self._evidence is not None and not model_counts(
            evidence(norm.text, self._evidence), model
        ):
            gated = 0.0
        rule_score, rule = best(self._rules, norm.text)
        category = rule.category if rule else None
        return Verdict(max(gated, rule_score), model, rule_score, category, norm)
