"""Topic and scope control: blocked topics are refused; with an allow-list, so is anything that
matches none of the allowed topics (off-scope refusal is deterministic, not a suggestion)."""

from __future__ import annotations

import re

from osp.governance.decisions import Allow, Decision, Reason, Stage
from osp.governance.detectors.normalize import normalize
from osp.governance.detectors.topics import BUILTIN_LEXICON, compile_topic, is_smalltalk
from osp.governance.interfaces import RailContext, RailDeps
from osp.governance.policy import Policy, RailSettings
from osp.governance.rails.base import BaseRail


class TopicsRail(BaseRail):
    key = "input.topics"
    stage = Stage.INPUT

    def __init__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> None:
        super().__init__(settings, policy, deps)
        topics = policy.topics

        def lexicon(name: str) -> re.Pattern[str] | None:
            phrases = [*BUILTIN_LEXICON.get(name, ()), *topics.definitions.get(name, [])]
            return compile_topic(phrases)

        self._blocked = [(t, p) for t in topics.blocked if (p := lexicon(t)) is not None]
        self._allowed = [(t, p) for t in topics.allowed if (p := lexicon(t)) is not None]
        self._restricted = bool(topics.allowed)

    def check(self, text: str, ctx: RailContext) -> Decision:
        if not self._blocked and not self._restricted:
            return Allow()
        norm = normalize(text).text
        for name, pattern in self._blocked:
            if pattern.search(norm):
                return self.reject(Reason.TOPIC_BLOCKED, {f"topic.{name}": 1.0})
        if self._restricted:
            for name, pattern in self._allowed:
                if pattern.search(norm):
                    return Allow({f"topic.{name}": 1.0})
            if self.policy.topics.allow_smalltalk and is_smalltalk(norm):
                return Allow()
            # Scope is an allow-list: matching no allowed topic is off-scope, so refuse.
            return self.reject(Reason.OFF_TOPIC)
        return Allow()
