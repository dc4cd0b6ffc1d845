"""Protocols the engine is written against, so mypy checks rails, sinks and samplers."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from osp.governance.decisions import AuditRecord, Decision, Stage
from osp.governance.detectors.encoder import EncoderStore
from osp.governance.detectors.linear import ModelStore

if TYPE_CHECKING:
    from osp.governance.policy import Policy, RailSettings


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool invocation as the execution stage sees it."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RailContext:
    """Per-request facts a rail may read. Rails must not keep state between requests."""

    tenant_id: str
    request_id: str
    stage: Stage
    prompt: str | None = None
    tool_call: ToolCall | None = None
    # The tenant's instructions to its agent (the system prompt). The semantic tier reads a
    # message against them: "answer only in French from now on" is an attack on an assistant
    # told to answer in English and an ordinary request to a general one.
    instructions: str | None = None


@runtime_checkable
class Rail(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def stage(self) -> Stage: ...

    def check(self, text: str, ctx: RailContext) -> Decision: ...


class Sampler(Protocol):
    """Draws ``n`` answers to ``prompt`` from the tenant's own model (used by self-check)."""

    def sample(self, prompt: str, n: int) -> Sequence[str]: ...


class JudgeModel(Protocol):
    """Asks the tenant's own model one judging question (used by ``output.judge``).

    Returns the model's raw answer text; raises on any error, and on no answer within
    ``timeout_s`` seconds."""

    def judge(self, system: str, prompt: str, timeout_s: float) -> str: ...


class TextScorer(Protocol):
    """Scores text with the semantic tier's heads (probability per head name)."""

    def scores(
        self, text: str, heads: tuple[str, ...], context: str | None = None
    ) -> dict[str, float]:
        """``context``: the tenant's instructions, read with the text (the second segment)."""
        ...


@runtime_checkable
class CategoryScorer(TextScorer, Protocol):
    """A scorer that also names the harm category from the same pass (the local encoder with
    a category head); a scorer without it leaves naming to the word-stem taxonomy."""

    def assess(
        self, text: str, heads: tuple[str, ...], context: str | None = None
    ) -> tuple[dict[str, float], str | None]: ...


class ScorerSource(Protocol):
    """Hands out the scorer, loading it on first use; raises ``EncoderError`` (with the
    reason) when it cannot: a missing or altered model, or a scorer that cannot be reached."""

    def get(self) -> TextScorer: ...


@dataclass(frozen=True, slots=True)
class RailDeps:
    """Services injected into rail factories. Shared by the rails of one pipeline."""

    sampler: Sampler | None = None
    judge: JudgeModel | None = None  # the tenant's model, for the LLM judge rail
    models: ModelStore = field(default_factory=ModelStore)
    # The semantic tier's encoder; loaded on the first message a semantic rail checks. Inside
    # an agent container it is the control plane's shared scorer (osp.agent.scoring).
    encoders: ScorerSource = field(default_factory=EncoderStore)


class RailFactory(Protocol):
    """What a registered rail class must look like: class-level key and stage, and a
    constructor taking its settings, the whole policy and the injected services."""

    @property
    def key(self) -> str: ...
    @property
    def stage(self) -> Stage: ...

    def __call__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> Rail: ...


class AuditSink(Protocol):
    """Receives every audit record. The agent/control plane persists them per tenant."""

    def emit(self, record: AuditRecord) -> None: ...


class MemorySink:
    """Keeps records in a list; for tests and for `osp guard`'s own bookkeeping."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def emit(self, record: AuditRecord) -> None:
        self.records.append(record)


class NullSink:
    def emit(self, record: AuditRecord) -> None:
        return None


class RequestSink:
    """Collects records per request id, as rows: one pipeline serves concurrent requests.

    `detail`, when given, marks every row (the gateway marks its own decisions)."""

    def __init__(self, detail: str | None = None) -> None:
        self._detail = detail
        self._lock = threading.Lock()
        self._open: dict[str, list[dict[str, Any]]] = {}

    def open(self, request_id: str) -> list[dict[str, Any]]:
        bucket: list[dict[str, Any]] = []
        with self._lock:
            self._open[request_id] = bucket
        return bucket

    def close(self, request_id: str) -> None:
        with self._lock:
            self._open.pop(request_id, None)

    def emit(self, record: AuditRecord) -> None:
        row = asdict(record)
        row["changes"] = [[c["kind"], c["start"], c["end"]] for c in row["changes"]]
        row["stage"] = str(record.stage)
        if self._detail is not None:
            row["detail"] = self._detail
        with self._lock:
            bucket = self._open.get(record.request_id)
        if bucket is None:
            # A record nobody will persist must not be silently dropped: the pipeline turns
            # a sink error into a reject (fail closed).
            raise RuntimeError("audit record for an unknown request")
        bucket.append(row)
