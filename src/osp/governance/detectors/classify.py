"""Combines a shipped linear model with the rule set for one task."""

from __future__ import annotations

from dataclasses import dataclass

from osp.governance.detectors.linear import ModelStore
from osp.governance.detectors.normalize import Normalized, normalize
from osp.governance.detectors.rules import Rule, best


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


class Classifier:
    """score = max(model probability, best rule score). The model is loaded on first use."""

    def __init__(self, models: ModelStore, model_name: str, rules: tuple[Rule, ...]) -> None:
        self._models = models
        self._name = model_name
        self._rules = rules

    def warm(self) -> None:
        self._models.get(self._name)

    def classify(self, text: str, normalized: Normalized | None = None) -> Verdict:
        norm = normalized or normalize(text)
        model = self._models.get(self._name).score(norm.text)
        rule_score, rule = best(self._rules, norm.text)
        return Verdict(
            max(model, rule_score), model, rule_score, rule.category if rule else None, norm
        )
