"""Gateway-side rails: the semantic tier, run on the control plane around every turn.

Why here and not in the agent's container (measured, see docs/benchmarks.md "Placement of the
semantic tier" and docs/architecture.md "Message path"):

* a compromised or buggy container cannot skip a check it never runs: the user's message is
  scored before it is delivered, the reply after it comes back and before it is stored;
* one encoder per control plane (loaded once, on the first message that needs it) instead of
  one per tenant: the agent image carries no onnxruntime, and an active tenant costs no encoder
  memory of its own.

The tenant's policy still decides: which of these rails run, their thresholds and refusals come
from the tenant's own policy, exactly as when the agent runs them. The agent receives its
policy with the gateway's rails taken out of its stage lists (it does not score twice); the
retrieval stage's semantic rail stays in the agent and asks the same shared scorer over the
internal API (``osp.gateway.scoring``).

Fail closed: a scorer that cannot load (model file missing or altered, runtime absent) makes the
rail reject with ``model_unavailable``; the decision is audited with the turn like any other.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from osp.governance import Pipeline, Policy, Stage, StageResult, builtin_registry
from osp.governance.detectors.encoder import EncoderStore
from osp.governance.interfaces import RailDeps, RequestSink, ScorerSource
from osp.governance.policy import RailSettings, StagesConfig

# Rails the gateway runs instead of the agent (stage -> keys).
GATEWAY_RAILS: dict[Stage, frozenset[str]] = {
    Stage.INPUT: frozenset({"input.semantic"}),
    Stage.OUTPUT: frozenset({"output.semantic"}),
}
MAX_PIPELINES = 64  # distinct gateway policies kept built (most tenants share the defaults)
WHERE = "gateway"  # marks the control plane's decisions in the turn's audit event


@dataclass(frozen=True)
class GatewayCheck:
    result: StageResult
    records: list[dict[str, Any]]  # the audit records, in the shape the agent sends its own

    @property
    def allowed(self) -> bool:
        return self.result.allowed


def gateway_stages(policy: Policy) -> dict[Stage, list[RailSettings]]:
    """The tenant's rails the gateway runs, per stage, in the tenant's order."""
    return {stage: [r for r in policy.stages.for_stage(stage) if r.key in keys]
            for stage, keys in GATEWAY_RAILS.items()}


def agent_policy(policy: Policy, document: dict[str, Any]) -> dict[str, Any]:
    """The policy document the agent gets: explicit stage lists without the gateway's rails.

    A stage that would be left empty keeps its rails (the agent then scores through the
    shared scorer): an empty stage would refuse every message (``no_rails``)."""
    stages: dict[str, list[dict[str, Any]]] = {}
    for stage in Stage:
        rails = policy.stages.for_stage(stage)
        keep = [r for r in rails if r.key not in GATEWAY_RAILS.get(stage, frozenset())]
        stages[stage.value] = [r.model_dump() for r in (keep or rails)]
    return {**document, "stages": stages}


class GatewayRails:
    """One shared scorer and the gateway pipelines built over it (bounded cache)."""

    def __init__(self, encoders: ScorerSource | None = None) -> None:
        self.encoders: ScorerSource = encoders if encoders is not None else EncoderStore()
        self._deps = RailDeps(encoders=self.encoders)
        self._sink = RequestSink(detail=WHERE)
        self._pipelines: OrderedDict[str, Pipeline] = OrderedDict()
        self._lock = threading.Lock()

    def runs(self, policy: Policy, stage: Stage) -> bool:
        return bool(gateway_stages(policy).get(stage))

    def _pipeline(self, policy: Policy) -> Pipeline:
        stages = gateway_stages(policy)
        own = policy.model_copy(update={"stages": StagesConfig(
            input=stages[Stage.INPUT], output=stages[Stage.OUTPUT])})
        key = own.model_dump_json()
        with self._lock:
            pipe = self._pipelines.get(key)
            if pipe is not None:
                self._pipelines.move_to_end(key)
                return pipe
        pipe = Pipeline(own, builtin_registry(), self._sink, tenant_id=WHERE, deps=self._deps)
        with self._lock:
            raced = self._pipelines.get(key)
            if raced is not None:  # built meanwhile by another turn: keep one, free the other
                pipe.close()
                return raced
            self._pipelines[key] = pipe
            while len(self._pipelines) > MAX_PIPELINES:
                self._pipelines.popitem(last=False)[1].close()
        return pipe

    def check(self, policy: Policy, stage: Stage, text: str, turn: str,
              instructions: str | None = None) -> GatewayCheck:
        """Runs the tenant's gateway rails of ``stage``; call only when :meth:`runs`.
        ``instructions``: the tenant's system prompt, read with the message."""
        request_id = f"{turn}:gw:{uuid.uuid4().hex[:8]}"
        bucket = self._sink.open(request_id)
        try:
            result = self._pipeline(policy).check(stage, text, request_id=request_id,
                                                  instructions=instructions)
        finally:
            self._sink.close(request_id)
        return GatewayCheck(result, list(bucket))
