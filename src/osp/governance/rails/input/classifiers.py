"""Input rails backed by the shipped classifiers: jailbreak/prompt injection and moderation."""

from __future__ import annotations

from osp.governance.decisions import Allow, Decision, Reason, Stage
from osp.governance.detectors.classify import Classifier
from osp.governance.detectors.harm_categories import categorise
from osp.governance.detectors.normalize import decoded_variants
from osp.governance.detectors.rules import ATTACK_EVIDENCE, HARM_RULES, INJECTION_RULES
from osp.governance.interfaces import RailContext, RailDeps
from osp.governance.policy import Policy, RailSettings
from osp.governance.rails.base import BaseRail


class InjectionRail(BaseRail):
    """Jailbreak and prompt-injection detection on the normalised user message."""

    key = "input.injection"
    stage = Stage.INPUT

    def __init__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> None:
        super().__init__(settings, policy, deps)
        self._clf = Classifier(deps.models, "injection", INJECTION_RULES, ATTACK_EVIDENCE)
        self._clf.warm()  # load at start-up: a missing weights file must stop boot, not a chat

    def check(self, text: str, ctx: RailContext) -> Decision:
        v = self._clf.classify(text)
        threshold = self.policy.thresholds.injection
        # The threshold in force is audited with the scores (a tenant may override it).
        scores = {**v.scores("injection"), "threshold.injection": threshold}
        if v.normalized.tags:
            # Text hidden in Unicode tag characters is never legitimate user input.
            return self.reject(
                Reason.PROMPT_INJECTION, {**scores, "tag_chars": float(v.normalized.tags)}
            )
        if v.score >= threshold:
            reason = Reason.JAILBREAK if v.category == "jailbreak" else Reason.PROMPT_INJECTION
            return self.reject(reason, scores)
        # Instructions smuggled in base64, leetspeak or spelt-out letters are judged as if
        # written in the clear (homoglyphs and invisible characters are undone by normalize).
        for kind, decoded in decoded_variants(v.normalized.text, text):
            hidden = self._clf.classify(decoded)
            if hidden.score >= threshold:
                return self.reject(
                    Reason.PROMPT_INJECTION, {**scores, f"injection.{kind}": hidden.score}
                )
        return Allow(scores)


class InputModerationRail(BaseRail):
    """Content safety: requests for serious harm (weapons, violence, abuse, malware ...)."""

    key = "input.moderation"
    stage = Stage.INPUT
    threshold_field = "harmful"  # the policy's `thresholds.<field>` this rail applies (audited)

    def __init__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> None:
        super().__init__(settings, policy, deps)
        self._clf = Classifier(deps.models, "harmful", HARM_RULES)
        self._clf.warm()

    def threshold(self) -> float:
        return self.policy.thresholds.harmful

    def check(self, text: str, ctx: RailContext) -> Decision:
        v = self._clf.classify(text)
        threshold = self.threshold()
        scores = {**v.scores("harmful"), f"threshold.{self.threshold_field}": threshold}
        return harm_decision(self, v.normalized.text, v.score, threshold, scores, v.category)


def harm_decision(
    rail: BaseRail,
    text: str,
    score: float,
    threshold: float,
    scores: dict[str, float],
    hint: str | None = None,
    learned: str | None = None,
) -> Decision:
    """A content-safety decision under the tenant's moderation policy: the harm category decides
    the threshold (``moderation.category_thresholds``, else the rail's own) and whether the
    tenant allows the category at all. The category is in the scores (so it is audited) and on
    the reject."""
    mod = rail.policy.moderation
    lowest = min([threshold, *mod.category_thresholds.values()])
    if score < lowest:
        return Allow(scores)  # below every threshold: no need to name a category
    category = categorise(text, hint)
    if category == "other" and learned is not None:
        # The encoder's category head names what no keyword did; an explicit keyword (e.g.
        # sexual content involving minors, never allowable) always wins over the learned guess.
        category = learned
    scores = {**scores, f"category.{category}": 1.0}
    applied = mod.category_thresholds.get(category, threshold)  # type: ignore[call-overload]
    if category in mod.category_thresholds:
        scores[f"threshold.category.{category}"] = applied  # the tenant's per-category override
    if score < applied:
        return Allow(scores)
    if category in mod.allowed_categories:
        # Allowed by the tenant's policy (e.g. security teaching): passes, audited as such.
        return Allow({**scores, "category.allowed": 1.0})
    return rail.reject(Reason.UNSAFE_CONTENT, scores, category)
