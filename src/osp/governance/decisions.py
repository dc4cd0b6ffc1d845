"""Typed results of rails and stages, and the audit record every decision produces.

A rail never returns ``bool`` or ``None``: it returns :class:`Allow`, :class:`Alter` or
:class:`Reject`, so a missing branch is a type error rather than a silent pass.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


class Stage(enum.StrEnum):
    """Stages run in this fixed order; the order is part of the security model."""

    INPUT = "input"
    DIALOG = "dialog"
    RETRIEVAL = "retrieval"
    EXECUTION = "execution"
    OUTPUT = "output"


class Reason(enum.StrEnum):
    """Reason codes shared by the built-in rails. Custom rails may use their own strings."""

    RAIL_ERROR = "rail_error"
    NO_RAILS = "no_rails"
    AUDIT_ERROR = "audit_error"
    JAILBREAK = "jailbreak"
    PROMPT_INJECTION = "prompt_injection"
    INDIRECT_INJECTION = "indirect_injection"
    TOPIC_BLOCKED = "topic_blocked"
    OFF_TOPIC = "off_topic"
    UNSAFE_CONTENT = "unsafe_content"
    PII = "pii"
    SECRET = "secret"  # noqa: S105 - a reason code, not a credential
    INVISIBLE_TEXT = "invisible_text"
    TOOL_NOT_ALLOWED = "tool_not_allowed"
    APPROVAL_REQUIRED = "approval_required"
    INVALID_ARGUMENTS = "invalid_arguments"
    SELF_CHECK_DISAGREEMENT = "self_check_disagreement"
    TOO_LONG = "too_long"
    MODEL_UNAVAILABLE = "model_unavailable"


DEFAULT_REFUSAL = "Sorry, I can't help with that request."


@dataclass(frozen=True, slots=True)
class Change:
    """What an alteration did, by kind and position. Never carries the removed text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Allow:
    scores: Mapping[str, float] = field(default_factory=dict)
    action: Literal["allow"] = "allow"


@dataclass(frozen=True, slots=True)
class Alter:
    text: str
    changes: tuple[Change, ...]
    scores: Mapping[str, float] = field(default_factory=dict)
    action: Literal["alter"] = "alter"


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str
    refusal: str = DEFAULT_REFUSAL
    scores: Mapping[str, float] = field(default_factory=dict)
    action: Literal["reject"] = "reject"
    # For content-safety rejects: which kind of harm (detectors.harm_categories), else None.
    category: str | None = None


Decision = Allow | Alter | Reject


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One per rail decision. Holds keyed hashes of content, never the content itself.

    ``changes`` lists kinds and offsets only: the offsets of a masked SSN are not the SSN.
    """

    tenant_id: str
    request_id: str
    policy_version: str
    stage: Stage
    rail: str
    action: Literal["allow", "alter", "reject"]
    reason: str | None
    scores: Mapping[str, float]
    latency_ms: float
    content_hash: str
    result_hash: str | None
    changes: tuple[Change, ...]
    advisory: bool
    failed_open: bool
    timestamp: float


@dataclass(frozen=True, slots=True)
class RailOutcome:
    rail: str
    decision: Decision
    latency_ms: float
    failed_open: bool = False


@dataclass(frozen=True, slots=True)
class StageResult:
    """Outcome of a whole stage: the first reject wins; alters chain in rail order."""

    stage: Stage
    action: Literal["allow", "alter", "reject"]
    text: str
    rail: str | None
    reason: str | None
    scores: Mapping[str, float]
    outcomes: tuple[RailOutcome, ...]
    latency_ms: float
    category: str | None = None  # the rejecting rail's harm category, when it gave one

    @property
    def allowed(self) -> bool:
        return self.action != "reject"
