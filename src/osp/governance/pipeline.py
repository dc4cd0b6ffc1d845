"""The engine: an explicit rail registry and a frozen, ordered pipeline that fails closed."""

from __future__ import annotations

import hashlib
import hmac
import inspect
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from types import MappingProxyType

from osp.governance.decisions import (
    Allow,
    Alter,
    AuditRecord,
    Decision,
    RailOutcome,
    Reason,
    Reject,
    Stage,
    StageResult,
)
from osp.governance.interfaces import (
    AuditSink,
    Rail,
    RailContext,
    RailDeps,
    RailFactory,
    ToolCall,
)
from osp.governance.policy import Policy, RailSettings
from osp.governance.workers import DaemonPool


class RegistryError(Exception):
    """Bad registration: duplicate key, wrong shape, or registry already frozen."""


class PipelineConfigError(Exception):
    """The policy names a rail the registry does not know, or a rail cannot be built."""


class RailRegistry:
    """Rails by unique key. Filled explicitly at start-up, then frozen: no late additions."""

    def __init__(self) -> None:
        self._factories: dict[str, RailFactory] = {}
        self._frozen = False

    def register(self, factory: RailFactory) -> RailFactory:
        if self._frozen:
            raise RegistryError("registry is frozen: register rails at start-up only")
        key = getattr(factory, "key", None)
        stage = getattr(factory, "stage", None)
        if not isinstance(key, str) or not key:
            raise RegistryError(f"{factory!r} has no string `key`")
        if not isinstance(stage, Stage):
            raise RegistryError(f"rail {key!r}: `stage` must be a Stage, got {stage!r}")
        if key.split(".", 1)[0] != stage.value:
            raise RegistryError(f"rail {key!r}: key must start with its stage {stage.value!r}")
        check = getattr(factory, "check", None)
        if not callable(check):
            raise RegistryError(f"rail {key!r} has no callable `check`")
        params = [p for p in inspect.signature(check).parameters if p != "self"]
        if len(params) != 2:
            raise RegistryError(f"rail {key!r}: check must take (text, ctx), got {params}")
        if key in self._factories:
            raise RegistryError(f"rail key {key!r} is already registered")
        self._factories[key] = factory
        return factory

    def freeze(self) -> None:
        self._frozen = True

    @property
    def frozen(self) -> bool:
        return self._frozen

    def keys(self) -> list[str]:
        return sorted(self._factories)

    def get(self, key: str) -> RailFactory:
        try:
            return self._factories[key]
        except KeyError:
            known = ", ".join(self.keys()) or "(none)"
            raise PipelineConfigError(f"unknown rail {key!r}; registered: {known}") from None


@dataclass(frozen=True, slots=True)
class _BoundRail:
    rail: Rail
    settings: RailSettings


class _RailFailure(Exception):
    def __init__(self, rail: str, why: str) -> None:
        super().__init__(f"{rail}: {why}")
        self.rail = rail


class Pipeline:
    """Runs a stage's rails in policy order on every call. There is no per-request skip.

    Rails run on a worker thread so a hung rail is cut off at its deadline; the stage is then
    rejected. A stuck worker stays stuck, which only makes later calls time out and fail closed.
    Rails must therefore be thread-safe and keep no per-request state.
    """

    def __init__(
        self,
        policy: Policy,
        registry: RailRegistry,
        sink: AuditSink,
        *,
        tenant_id: str = "local",
        deps: RailDeps | None = None,
        hash_key: bytes | None = None,
        workers: int = 4,
    ) -> None:
        registry.freeze()
        self.policy = policy
        self.tenant_id = tenant_id
        self._sink = sink
        # Keyed hashes: a plain SHA-256 of a short secret (an SSN, a PIN) is brute-forceable,
        # so audit hashes are HMACs under a key the tenant's runtime holds.
        self._hash_key = hash_key if hash_key is not None else os.urandom(32)
        deps = deps or RailDeps()
        stages: dict[Stage, tuple[_BoundRail, ...]] = {}
        for stage in Stage:
            bound = []
            for settings in policy.stages.for_stage(stage):
                factory = registry.get(settings.key)
                if factory.stage is not stage:
                    raise PipelineConfigError(f"rail {settings.key!r} belongs to {factory.stage}")
                try:
                    rail = factory(settings, policy, deps)
                except Exception as exc:
                    raise PipelineConfigError(f"cannot build rail {settings.key!r}: {exc}") from exc
                if not isinstance(rail, Rail) or rail.key != settings.key:
                    raise PipelineConfigError(f"{settings.key!r} did not build a matching Rail")
                bound.append(_BoundRail(rail, settings))
            stages[stage] = tuple(bound)
        self._stages: Mapping[Stage, tuple[_BoundRail, ...]] = MappingProxyType(stages)
        self._pool = DaemonPool(workers)
        self._lock = threading.Lock()
        self._counter = 0

    def rails(self, stage: Stage) -> tuple[str, ...]:
        return tuple(b.settings.key for b in self._stages[stage])

    def close(self) -> None:
        self._pool.shutdown()

    def _hash(self, text: str) -> str:
        mac = hmac.new(self._hash_key, text.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return mac.hexdigest()[:32]

    def _next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{os.getpid()}-{self._counter}"

    def check(
        self,
        stage: Stage | str,
        text: str,
        *,
        request_id: str | None = None,
        prompt: str | None = None,
        tool_call: ToolCall | None = None,
        instructions: str | None = None,
    ) -> StageResult:
        stage = Stage(stage)
        ctx = RailContext(
            tenant_id=self.tenant_id,
            request_id=request_id or self._next_id(),
            stage=stage,
            prompt=prompt,
            tool_call=tool_call,
            instructions=instructions,
        )
        started = time.perf_counter()
        rails = self._stages[stage]
        if not rails:
            # An empty stage means nothing was checked; that must not look like "allowed".
            return self._finish_reject(stage, text, ctx, "engine", Reason.NO_RAILS, started, ())
        outcomes: list[RailOutcome] = []
        current = text
        scores: dict[str, float] = {}
        for bound, outcome, seen in self._execute(rails, text, ctx):
            try:
                self._audit(stage, bound, outcome, seen, ctx)
            except Exception:
                # A decision that cannot be audited is not allowed to take effect.
                outcomes.append(outcome)
                return self._finish_reject(
                    stage, text, ctx, bound.settings.key, Reason.AUDIT_ERROR, started, outcomes
                )
            outcomes.append(outcome)
            decision = outcome.decision
            scores.update(decision.scores)
            if isinstance(decision, Reject):
                return StageResult(
                    stage=stage,
                    action="reject",
                    text=decision.refusal,
                    rail=outcome.rail,
                    reason=decision.reason,
                    scores=scores,
                    outcomes=tuple(outcomes),
                    latency_ms=(time.perf_counter() - started) * 1000,
                    category=decision.category,
                )
            if isinstance(decision, Alter):
                current = decision.text
        altered = [o for o in outcomes if isinstance(o.decision, Alter)]
        return StageResult(
            stage=stage,
            action="alter" if altered else "allow",
            text=current,
            rail=altered[-1].rail if altered else None,
            reason=None,
            scores=scores,
            outcomes=tuple(outcomes),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def check_chunks(
        self, chunks: Iterable[str], *, request_id: str | None = None, prompt: str | None = None
    ) -> list[StageResult]:
        """Retrieval stage over each chunk; rejected chunks must be dropped by the caller."""
        return [
            self.check(Stage.RETRIEVAL, c, request_id=request_id, prompt=prompt) for c in chunks
        ]

    def _execute(
        self, rails: tuple[_BoundRail, ...], text: str, ctx: RailContext
    ) -> list[tuple[_BoundRail, RailOutcome, str]]:
        """Runs the rails on one worker thread (one hand-off per stage, not per rail).

        A rail over its own timeout is failed when it returns; a rail that never returns is cut
        off when the stage's deadline (the sum of the remaining rails' timeouts) passes.
        """
        done: list[tuple[_BoundRail, RailOutcome, str]] = []
        current = text
        start = 0
        while start < len(rails):
            batch = rails[start:]
            progress: list[tuple[_BoundRail, RailOutcome, str]] = []
            cancel = threading.Event()
            t0 = time.perf_counter()
            future = self._pool.submit(self._worker, batch, current, ctx, progress, cancel)
            deadline = sum(b.settings.timeout_ms for b in batch) / 1000
            try:
                future.result(timeout=deadline)
                return done + progress
            except FutureTimeout:
                cancel.set()
            except Exception:  # a bug outside any rail; still never an allow
                cancel.set()
            finished = list(progress)
            done.extend(finished)
            if finished and isinstance(finished[-1][1].decision, Reject):
                return done
            hung = batch[len(finished)]
            seen = current
            for _, outcome, _seen in finished:
                if isinstance(outcome.decision, Alter):
                    seen = outcome.decision.text
            latency = (time.perf_counter() - t0) * 1000
            if not hung.settings.advisory:
                refusal = self.policy.refusals.for_reason(Reason.RAIL_ERROR)
                failed = RailOutcome(hung.settings.key, Reject(Reason.RAIL_ERROR, refusal), latency)
                done.append((hung, failed, seen))
                return done
            # Only policy-marked advisory rails may fail open; carry on with the rest elsewhere.
            done.append((hung, RailOutcome(hung.settings.key, Allow(), latency, True), seen))
            current = seen
            start += len(finished) + 1
        return done

    def _worker(
        self,
        batch: tuple[_BoundRail, ...],
        text: str,
        ctx: RailContext,
        progress: list[tuple[_BoundRail, RailOutcome, str]],
        cancel: threading.Event,
    ) -> None:
        current = text
        for bound in batch:
            if cancel.is_set():
                return
            outcome = self._run_one(bound, current, ctx)
            progress.append((bound, outcome, current))
            if isinstance(outcome.decision, Reject):
                return
            if isinstance(outcome.decision, Alter):
                current = outcome.decision.text

    def _run_one(self, bound: _BoundRail, text: str, ctx: RailContext) -> RailOutcome:
        key = bound.settings.key
        t0 = time.perf_counter()
        try:
            decision = bound.rail.check(text, ctx)
            if not isinstance(decision, Allow | Alter | Reject):
                raise _RailFailure(key, f"returned {type(decision).__name__}, not a Decision")
            if isinstance(decision, Alter) and not isinstance(decision.text, str):
                raise _RailFailure(key, "Alter without text")
            latency = (time.perf_counter() - t0) * 1000
            if latency > bound.settings.timeout_ms:
                raise _RailFailure(key, "over its timeout")
        except Exception:
            latency = (time.perf_counter() - t0) * 1000
            if bound.settings.advisory:
                # Only policy-marked advisory rails may fail open, and it is recorded as such.
                return RailOutcome(key, Allow(), latency, failed_open=True)
            refusal = self.policy.refusals.for_reason(Reason.RAIL_ERROR)
            return RailOutcome(key, Reject(Reason.RAIL_ERROR, refusal), latency)
        return RailOutcome(key, decision, latency)

    def _audit(
        self,
        stage: Stage,
        bound: _BoundRail | None,
        outcome: RailOutcome,
        text: str,
        ctx: RailContext,
    ) -> None:
        d: Decision = outcome.decision
        self._sink.emit(
            AuditRecord(
                tenant_id=ctx.tenant_id,
                request_id=ctx.request_id,
                policy_version=self.policy.version,
                stage=stage,
                rail=outcome.rail,
                action=d.action,
                reason=d.reason if isinstance(d, Reject) else None,
                scores=dict(d.scores),
                latency_ms=round(outcome.latency_ms, 3),
                content_hash=self._hash(text),
                result_hash=self._hash(d.text) if isinstance(d, Alter) else None,
                changes=d.changes if isinstance(d, Alter) else (),
                advisory=bool(bound and bound.settings.advisory),
                failed_open=outcome.failed_open,
                timestamp=time.time(),
            )
        )

    def _finish_reject(
        self,
        stage: Stage,
        text: str,
        ctx: RailContext,
        rail: str,
        reason: str,
        started: float,
        outcomes: Sequence[RailOutcome],
    ) -> StageResult:
        refusal = self.policy.refusals.for_reason(reason)
        outcome = RailOutcome(rail, Reject(reason, refusal), 0.0)
        if reason != Reason.AUDIT_ERROR:
            try:
                self._audit(stage, None, outcome, text, ctx)
            except Exception:  # already a reject; a failing sink cannot make it an allow
                reason = Reason.AUDIT_ERROR
        return StageResult(
            stage=stage,
            action="reject",
            text=refusal,
            rail=rail,
            reason=reason,
            scores={},
            outcomes=(*outcomes, outcome),
            latency_ms=(time.perf_counter() - started) * 1000,
        )
