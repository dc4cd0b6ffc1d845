"""The semantic tier on user input: the encoder's injection and harmful-request heads.

It runs after the cheap rails (rules, linear models, de-obfuscation), which settle the clear
cases; what reaches it is judged by meaning rather than wording. The encoder loads on the first
message (not at import or start-up), so tenants on presets without it never pay its memory.
"""

from __future__ import annotations

import logging

from osp.governance.decisions import Decision, Reason, Reject, Stage
from osp.governance.detectors.encoder import EncoderError
from osp.governance.detectors.normalize import normalize
from osp.governance.interfaces import CategoryScorer, RailContext
from osp.governance.rails.base import BaseRail
from osp.governance.rails.input.classifiers import harm_decision

log = logging.getLogger(__name__)


class SemanticRail(BaseRail):
    """Shared by the semantic rails: score heads, fail closed when the model is unusable."""

    heads: tuple[str, ...] = ()

    def head_scores(self, text: str) -> dict[str, float] | Reject:
        got = self.assessed(text)
        return got if isinstance(got, Reject) else got[0]

    def assessed(
        self, text: str, context: str | None = None
    ) -> tuple[dict[str, float], str | None] | Reject:
        """Head scores and the encoder's learned harm category (None without a category head);
        ``context`` (the tenant's instructions) is read with the text."""
        try:
            encoder = self.deps.encoders.get()
            clean = normalize(text).text
            if isinstance(encoder, CategoryScorer):
                return encoder.assess(clean, self.heads, context)
            return encoder.scores(clean, self.heads, context), None
        except EncoderError as exc:
            # Fail closed: a tenant whose policy asks for the semantic tier never gets a
            # message through unchecked because the model file is missing or altered.
            log.error("semantic rail %s cannot run: %s", self.key, exc)
            return self.reject(Reason.MODEL_UNAVAILABLE, {"semantic.unavailable": 1.0})


class SemanticInputRail(SemanticRail):
    key = "input.semantic"
    stage = Stage.INPUT
    heads = ("injection", "harmful")

    def check(self, text: str, ctx: RailContext) -> Decision:
        assessed = self.assessed(text, ctx.instructions)
        if isinstance(assessed, Reject):
            return assessed
        got, learned = assessed
        t = self.policy.thresholds
        # The thresholds in force are audited with the scores: a tenant's override (policy
        # `thresholds.semantic_*`) is visible in every decision it shaped.
        scores = {
            **{f"semantic.{h}": round(s, 4) for h, s in got.items()},
            "threshold.semantic_injection": t.semantic_injection,
            "threshold.semantic_harmful": t.semantic_harmful,
        }
        if got["injection"] >= t.semantic_injection:
            return self.reject(Reason.PROMPT_INJECTION, scores)
        return harm_decision(
            self, text, got["harmful"], t.semantic_harmful, scores, learned=learned
        )
