"""Per-tenant governance policy: versioned data, validated by pydantic, published as JSON Schema.

A tenant's policy is data only. It names rails by key and tunes them; it can never supply code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from osp.governance.decisions import DEFAULT_REFUSAL, Stage
from osp.governance.detectors.harm_categories import NEVER_ALLOWED, HarmCategory

SCHEMA_VERSION: Literal[1] = 1
SCHEMA_PATH = Path(__file__).with_name("policy.schema.json")

PiiEntity = Literal[
    "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "SECRET"
]
PiiAction = Literal["mask", "reject", "allow"]
PresetName = Literal["lean", "full"]

# Topics the built-in lexicon knows; tenants may add their own under topics.definitions.
BUILTIN_TOPICS: tuple[str, ...] = (
    "politics",
    "religion",
    "medical",
    "legal",
    "finance",
    "gambling",
    "adult",
    "weapons",
    "drugs",
    "crypto",
    "competitors",
)


class PolicyError(ValueError):
    """A policy failed validation; the message lists every problem, one per line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RailSettings(_Strict):
    key: str = Field(
        pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", description="Registered rail key"
    )
    advisory: bool = Field(
        default=False,
        description="Advisory rails may fail open on error or timeout; all others fail closed.",
    )
    timeout_ms: float = Field(default=1000.0, gt=0, le=60_000)


class StagesConfig(_Strict):
    input: list[RailSettings] = Field(default_factory=list)
    dialog: list[RailSettings] = Field(default_factory=list)
    retrieval: list[RailSettings] = Field(default_factory=list)
    execution: list[RailSettings] = Field(default_factory=list)
    output: list[RailSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_keys(self) -> StagesConfig:
        for stage in Stage:
            rails = self.for_stage(stage)
            keys = [r.key for r in rails]
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                raise ValueError(f"stage {stage.value!r} lists rail(s) more than once: {dupes}")
            for r in rails:
                if r.key.split(".", 1)[0] != stage.value:
                    raise ValueError(f"rail {r.key!r} is listed under stage {stage.value!r}")
        return self

    def for_stage(self, stage: Stage) -> list[RailSettings]:
        rails: list[RailSettings] = getattr(self, stage.value)
        return rails


class TopicPolicy(_Strict):
    allowed: list[str] = Field(
        default_factory=list,
        description="If non-empty, messages must match one of these topics (off-scope refused).",
    )
    blocked: list[str] = Field(default_factory=list)
    definitions: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Custom topics: name -> keywords or phrases (matched as whole words).",
    )
    allow_smalltalk: bool = Field(
        default=True, description="Greetings and thanks pass even when `allowed` is set."
    )

    @model_validator(mode="after")
    def _known_topics(self) -> TopicPolicy:
        known = set(BUILTIN_TOPICS) | set(self.definitions)
        unknown = sorted({t for t in [*self.allowed, *self.blocked] if t not in known})
        if unknown:
            raise ValueError(
                f"unknown topic(s) {unknown}: use a built-in topic {list(BUILTIN_TOPICS)} "
                "or define it under topics.definitions"
            )
        both = sorted(set(self.allowed) & set(self.blocked))
        if both:
            raise ValueError(f"topic(s) both allowed and blocked: {both}")
        for name, words in self.definitions.items():
            if not words or any(not w.strip() for w in words):
                raise ValueError(f"topic {name!r} needs at least one non-empty keyword")
        return self


def _default_output_pii() -> dict[PiiEntity, PiiAction]:
    return {
        "EMAIL_ADDRESS": "mask", "PHONE_NUMBER": "mask", "US_SSN": "mask", "CREDIT_CARD": "mask",
        "IBAN_CODE": "mask", "IP_ADDRESS": "mask", "SECRET": "mask",
    }  # fmt: skip


def _default_input_pii() -> dict[PiiEntity, PiiAction]:
    # A user's own e-mail, phone or IP address is often what the agent needs to act on ("e-mail
    # bob@..."), so input keeps them; numbers that are only ever sensitive are masked.
    return {
        **_default_output_pii(), "EMAIL_ADDRESS": "allow", "PHONE_NUMBER": "allow",
        "IP_ADDRESS": "allow",
    }  # fmt: skip


class PiiPolicy(_Strict):
    input: dict[PiiEntity, PiiAction] = Field(default_factory=_default_input_pii)
    output: dict[PiiEntity, PiiAction] = Field(default_factory=_default_output_pii)


class ArgConstraint(_Strict):
    type: Literal["string", "integer", "number", "boolean"] | None = None
    required: bool = False
    max_length: int | None = Field(default=None, ge=0)
    pattern: str | None = Field(default=None, description="Python regex the whole value must match")
    enum: list[str | int | float | bool] | None = None
    minimum: float | None = None
    maximum: float | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from exc
        return v


class ToolPolicy(_Strict):
    allowed: list[str] = Field(default_factory=list, description="Tools the agent may call")
    approval_required: list[str] = Field(
        default_factory=list, description="Allowed tools that pause for a human yes"
    )
    arguments: dict[str, dict[str, ArgConstraint]] = Field(default_factory=dict)
    allow_unknown_arguments: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ToolPolicy:
        allowed = set(self.allowed)
        stray = sorted(set(self.approval_required) - allowed)
        if stray:
            raise ValueError(f"approval_required tool(s) not in allowed: {stray}")
        stray = sorted(set(self.arguments) - allowed)
        if stray:
            raise ValueError(f"argument constraints for tool(s) not in allowed: {stray}")
        return self


class Thresholds(_Strict):
    injection: float = Field(default=0.5, ge=0, le=1, description="Jailbreak/injection score")
    harmful: float = Field(default=0.6, ge=0, le=1, description="Content-safety score on input")
    output_harmful: float = Field(default=0.7, ge=0, le=1)
    retrieval_injection: float = Field(default=0.5, ge=0, le=1)
    self_check_agreement: float = Field(default=0.35, ge=0, le=1)
    # Semantic defaults are chosen on held-out scores by rules fixed beforehand
    # (bench/governance/tune_thresholds.py): injection, chat FP <= 1% first; harmful and document,
    # <= 2% of benign flagged. Document: no threshold meets that, so the highest (the head then
    # flags little). Lower them to trade false positives for recall.
    semantic_injection: float = Field(
        default=0.965, ge=0, le=1, description="Encoder injection head (input.semantic)"
    )
    semantic_harmful: float = Field(
        default=0.95, ge=0, le=1, description="Encoder harmful-request head (input.semantic)"
    )
    semantic_document: float = Field(
        default=0.995, ge=0, le=1, description="Encoder document head (retrieval.semantic)"
    )
    max_input_chars: int = Field(default=200_000, ge=1)


class ModerationPolicy(_Strict):
    """Per-category treatment of content-safety decisions (categories: detectors.harm_categories).
    Empty by default: every category is blocked at the rail's own threshold."""

    allowed_categories: list[HarmCategory] = Field(
        default_factory=list,
        description="Harm categories this tenant lets through (e.g. cybercrime for a security "
        "course); the decision is still audited with its category",
    )
    category_thresholds: dict[HarmCategory, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="Per-category threshold replacing the moderation rails' own threshold",
    )

    @field_validator("allowed_categories")
    @classmethod
    def _allowable(cls, v: list[str]) -> list[str]:
        never = sorted(set(v) & NEVER_ALLOWED)
        if never:
            # No tenant purpose makes sexual content involving minors acceptable.
            raise ValueError(f"categories that can never be allowed: {never}")
        return v


class RetrievalPolicy(_Strict):
    on_injection: Literal["drop", "neutralise"] = "drop"


class Refusals(_Strict):
    default: str = DEFAULT_REFUSAL
    by_reason: dict[str, str] = Field(default_factory=dict)

    def for_reason(self, reason: str) -> str:
        return self.by_reason.get(reason, self.default)


def _rails(*keys: str, advisory: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    return [{"key": k, "advisory": k in advisory} for k in keys]


_LEAN: dict[str, list[dict[str, Any]]] = {
    "input": _rails(
        "input.unicode",
        "input.length",
        "input.pii",
        "input.injection",
        "input.topics",
        "input.moderation",
    ),
    "dialog": _rails("dialog.flows"),
    "retrieval": _rails("retrieval.unicode", "retrieval.injection"),
    "execution": _rails("execution.tools"),
    "output": _rails("output.unicode", "output.pii", "output.moderation"),
}
# `full` adds the semantic tier (one shared encoder, see docs/architecture.md) and the LLM judge
# on replies (the tenant's own model; fail closed). `output.self_check` stays available for
# explicit stage lists.
_FULL: dict[str, list[dict[str, Any]]] = {
    **_LEAN,
    "input": [*_LEAN["input"], {"key": "input.semantic", "timeout_ms": 5_000}],
    "retrieval": [*_LEAN["retrieval"], {"key": "retrieval.semantic", "timeout_ms": 5_000}],
    "output": [
        *_LEAN["output"],
        {"key": "output.semantic", "timeout_ms": 5_000},
        {"key": "output.judge", "timeout_ms": 30_000},
    ],
}
PRESETS: dict[str, dict[str, list[dict[str, Any]]]] = {"lean": _LEAN, "full": _FULL}


class Policy(_Strict):
    """A tenant's governance policy. Missing sections take the preset's defaults."""

    schema_version: Literal[1] = SCHEMA_VERSION
    version: str = Field(default="1", min_length=1, description="Tenant's own revision label")
    preset: PresetName = "lean"
    stages: StagesConfig = Field(default_factory=StagesConfig)
    topics: TopicPolicy = Field(default_factory=TopicPolicy)
    pii: PiiPolicy = Field(default_factory=PiiPolicy)
    tools: ToolPolicy = Field(default_factory=ToolPolicy)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    retrieval: RetrievalPolicy = Field(default_factory=RetrievalPolicy)
    moderation: ModerationPolicy = Field(default_factory=ModerationPolicy)
    refusals: Refusals = Field(default_factory=Refusals)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and "stages" not in data:
            preset = data.get("preset", "lean")
            if preset in PRESETS:
                data = {**data, "stages": PRESETS[preset]}
        return data

    @classmethod
    def preset_policy(cls, name: PresetName = "lean") -> Policy:
        return cls.model_validate({"preset": name})


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return "\n".join(lines)


def parse_policy(data: Any) -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"invalid policy:\n{_format_errors(exc)}") from None


def load_policy(path: str | Path) -> Policy:
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read policy {p}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy {p} is not valid JSON: {exc}") from None
    return parse_policy(raw)


def policy_json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema()
    schema["$id"] = f"https://osp.invalid/schemas/governance-policy-v{SCHEMA_VERSION}.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def render_schema() -> str:
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # regenerate: python -m osp.governance.policy
    SCHEMA_PATH.write_text(render_schema(), encoding="utf-8")
