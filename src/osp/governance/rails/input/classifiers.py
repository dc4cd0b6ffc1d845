"""Input rails backed by the shipped classifiers: jailbreak/prompt injection and moderation."""

from __future__ import annotations

from osp.governance.decisions import Allow, Decision, Reason, Stage
from osp.governance.detectors.classify import Classifier
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
        scores = v.scores("injection")
        if v.normalized.tags:
            # Text hidden in Unicode tag characters is never legitimate user input.
            return self.reject(
                Reason.PROMPT_INJECTION, {**scores, "tag_chars": float(v.normalized.tags)}
            )
        if v.score >= self.policy.thresholds.injection:
            reason = Reason.JAILBREAK if v.category == "jailbreak" else Reason.PROMPT_INJECTION
            return self.reject(reason, scores)
        # Instructions smuggled in base64, leetspeak or spelt-out letters are judged as if
        # written in the clear (homoglyphs and invisible characters are undone by normalize).
        for kind, decoded in decoded_variants(v.normalized.text, text):
            hidden = self._clf.classify(decoded)
            if hidden.score >= self.policy.thresholds.injection:
                return self.reject(
                    Reason.PROMPT_INJECTION, {**scores, f"injection.{kind}": hidden.score}
                )
        return Allow(scores)


class InputModerationRail(BaseRail):
    """Content safety: requests for serious harm (weapons, violence, abuse, malware ...)."""

    key = "input.moderation"
    stage = Stage.INPUT

    def __init__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> None:
        super().__init__(settings, policy, deps)
        self._clf = Classifier(deps.models, "harmful", HARM_RULES)
        self._clf.warm()

    def threshold(self) -> float:
        return self.policy.thresholds.harmful

    def check(self, text: str, ctx: RailContext) -> Decision:
        v = self._clf.classify(text)
        scores = v.scores("harmful")
        if v.score >= self.threshold():
            return self.reject(Reason.UNSAFE_CONTENT, scores)
        return Allow(scores)
