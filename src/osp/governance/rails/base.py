"""Shared plumbing for the built-in rails."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from osp.governance.decisions import Decision, Reject, Stage
from osp.governance.interfaces import RailContext, RailDeps
from osp.governance.policy import Policy, RailSettings


class BaseRail(ABC):
    key: ClassVar[str]
    stage: ClassVar[Stage]

    def __init__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> None:
        self.settings = settings
        self.policy = policy
        self.deps = deps

    def reject(
        self, reason: str, scores: dict[str, float] | None = None, category: str | None = None
    ) -> Reject:
        return Reject(
            reason, self.policy.refusals.for_reason(reason), scores or {}, "reject", category
        )

    @abstractmethod
    def check(self, text: str, ctx: RailContext) -> Decision:
        """Decide on one message; concrete rails implement this."""
