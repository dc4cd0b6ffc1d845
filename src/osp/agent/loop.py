"""The governed agent loop, inside the tenant's container.

One message goes: input rails -> dialog rails (allowed-path flows) -> model with tools
(execution rails around every call; results size-limited and screened by the retrieval
rails) with retrieved knowledge screened by the retrieval rails -> output rails -> reply.

Every decision becomes an audit record returned with the outcome; the control plane writes
them to the tenant's audit trail before it hands the reply to anyone (fail closed: a reply
whose decisions cannot be recorded is not delivered). Any failure of the governance layer
itself blocks the message: the loop never answers ungoverned.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from osp.agent.approvals import PendingCall, PendingStore
from osp.agent.config import AgentConfig
from osp.agent.flows import FlowState
from osp.agent.internal import InternalApi
from osp.agent.judge import ProviderFactory, ProviderJudge
from osp.agent.knowledge import Knowledge
from osp.agent.memory import Memory
from osp.agent.outbox import Outbox
from osp.agent.providers import Provider, ProviderError, ToolRequest, make_provider
from osp.agent.providers.base import Message
from osp.agent.providers.http import RetryPolicy
from osp.agent.scoring import RemoteScorer
from osp.agent.sealing import Sealer
from osp.agent.skills import Skill, SkillError, Skills
from osp.agent.spotlight import fence, new_boundary, rule
from osp.agent.tools.builtins import builtin_tools
from osp.agent.tools.connected import connected_tools
from osp.agent.tools.registry import ToolContext, ToolError, ToolRegistry
from osp.governance import (
    Pipeline,
    RailDeps,
    Stage,
    StageResult,
    ToolCall,
    builtin_registry,
)
from osp.governance.interfaces import RequestSink

GOVERNANCE_FAILED = "Sorry, I can't answer right now: a safety check could not run."
MODEL_FAILED = "Sorry, I can't answer right now: the model could not answer."
WITHHELD = "[tool result withheld: it contained instructions aimed at the assistant]"
DENIED = "The action {tool} was not approved, so I did not do it."
EXPIRED = "The request to run {tool} expired without a decision, so I did not do it."

def default_provider(config: AgentConfig, secrets: Mapping[str, str]) -> Provider:
    m = config.model
    return make_provider(m.provider, m.base_url, m.model, secrets,
                         RetryPolicy(timeout_s=m.timeout_s, retries=m.retries))


class GovernanceFailure(Exception):
    """The governance layer could not run; the message is blocked."""


@dataclass
class Outcome:
    status: str  # answered | refused | awaiting_approval | model_error
    reply: str
    audit: list[dict[str, Any]] = field(default_factory=list)
    approval: dict[str, Any] | None = None
    error: str | None = None
    model_ms: float = 0.0  # time spent waiting for the model (benchmarks exclude it)
    agent_ms: float = 0.0  # the whole turn in the agent, model included
    agent_name: str = ""  # the display name of a branded image (brand.json), else empty

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    message_id: str
    channel: str
    user: str
    text: str
    config: AgentConfig
    skill: str | None = None


@dataclass
class _Turn:
    """State of one governed exchange (a message, or its resumption after an approval)."""

    agent: Agent
    request: Request
    pipeline: Pipeline
    audit: list[dict[str, Any]]
    request_id: str
    model_ms: float = 0.0
    # Fences untrusted text for the model (osp.agent.spotlight); kept across an approval pause.
    boundary: str = field(default_factory=new_boundary)

    def check(self, stage: Stage, text: str, tool_call: ToolCall | None = None,
              prompt: str | None = None) -> StageResult:
        try:
            return self.pipeline.check(stage, text, request_id=self.request_id,
                                       tool_call=tool_call, prompt=prompt,
                                       instructions=self.request.config.system_prompt)
        except Exception as exc:  # the engine itself failed: block, never pass
            raise GovernanceFailure(f"{stage} rails failed: {type(exc).__name__}") from None

    def note(self, stage: str, rail: str, action: str, reason: str | None = None,
             **extra: Any) -> None:
        """An agent-level decision (flow, skill, schema, size) in the audit records' shape."""
        self.audit.append({"tenant_id": self.agent.tenant, "request_id": self.request_id,
                           "stage": stage, "rail": rail, "action": action, "reason": reason,
                           "timestamp": time.time(), **extra})


class Agent:
    def __init__(self, tenant: str, data_dir: Path, secrets: Mapping[str, str],
                 provider_factory: ProviderFactory = default_provider,
                 host_alias: Mapping[str, str] | None = None,
                 internal: InternalApi | None = None,
                 brand: Mapping[str, str] | None = None,
                 memory_key: bytes | None = None) -> None:
        self.tenant = tenant
        self.brand = dict(brand or {})  # the image's brand overlay (main.read_brand)
        self.internal = internal
        self.secrets = dict(secrets)
        self.provider_factory = provider_factory
        self.host_alias = dict(host_alias or {})
        # A booted container gets the tenant's memory key from the control plane; in-process
        # use without one gets a key of its own, so memory lives as long as this object.
        sealer = Sealer(memory_key or os.urandom(32))
        self.memory = Memory(data_dir, sealer)
        self.knowledge = Knowledge(data_dir)
        self.skills = Skills(data_dir)
        self.flows = FlowState(data_dir)
        self.pending = PendingStore(data_dir, sealer)
        self.outbox = Outbox(data_dir, sealer)
        # With the control plane at hand (a booted container), the semantic tier is its one
        # shared encoder; without it (in-process use) the local encoder, loaded on first use.
        self._deps = RailDeps(encoders=RemoteScorer(internal)) if internal is not None \
            else RailDeps()
        self._sink = RequestSink()
        self._pipelines: dict[str, Pipeline] = {}
        self._lock = threading.Lock()

    # -- set-up ------------------------------------------------------------------------
    def pipeline(self, config: AgentConfig) -> Pipeline:
        # The judge rail asks the configured model, so a model change builds a new pipeline.
        key = json.dumps([config.policy, config.model.model_dump()], sort_keys=True)
        with self._lock:
            pipe = self._pipelines.get(key)
            if pipe is None:
                deps = replace(self._deps, judge=ProviderJudge(
                    self._resolved(config), self.secrets, self.provider_factory))
                try:
                    pipe = Pipeline(config.governance_policy(), builtin_registry(), self._sink,
                                    tenant_id=self.tenant, deps=deps)
                except Exception as exc:
                    raise GovernanceFailure(f"policy cannot be enforced: {exc}") from None
                self._pipelines = {key: pipe}  # one policy at a time; the old one is dropped
            return pipe

    def resolve_url(self, url: str) -> str:
        """``osp-host`` means this tenant network's gateway (the host), where a local model
        server (Ollama, llama.cpp) listens on a port the tenant may reach."""
        host = urlsplit(url).hostname
        if not host or host not in self.host_alias:
            return url
        return url.replace(host, self.host_alias[host], 1)

    def _resolved(self, config: AgentConfig) -> AgentConfig:
        url = config.model.base_url
        if not url or self.resolve_url(url) == url:
            return config
        model = config.model.model_copy(update={"base_url": self.resolve_url(url)})
        return config.model_copy(update={"model": model})

    def tools(self, config: AgentConfig) -> ToolRegistry:
        http = config.tools.http_get
        registry = builtin_tools(self.memory, self.knowledge, http.allowed_domains,
                                 http.timeout_s, self.host_alias)
        if self.internal is not None:  # connected apps need the control plane's token route
            for tool in connected_tools(self.internal, config.tools.connected.api_base,
                                        self.resolve_url):
                registry.register(tool)
        return registry

    def _run(self, request: Request, body: Callable[[_Turn], Outcome]) -> Outcome:
        started = time.perf_counter()
        request_id = f"{request.message_id}:{uuid.uuid4().hex[:8]}"
        audit = self._sink.open(request_id)
        try:
            turn = _Turn(self, request, self.pipeline(request.config), audit, request_id)
            outcome = body(turn)
            outcome.model_ms = round(turn.model_ms, 3)
        except GovernanceFailure as exc:
            audit.append({"tenant_id": self.tenant, "request_id": request_id,
                          "stage": "engine", "rail": "engine", "action": "reject",
                          "reason": "governance_failure", "detail": str(exc)[:200],
                          "timestamp": time.time()})
            outcome = Outcome("refused", GOVERNANCE_FAILED)
        finally:
            self._sink.close(request_id)
        outcome.audit = list(audit)
        outcome.agent_name = self.brand.get("agent_name", "")
        outcome.agent_ms = round((time.perf_counter() - started) * 1000, 3)
        return outcome

    # -- entry points ------------------------------------------------------------------
    def handle(self, request: Request) -> Outcome:
        return self._run(request, self._handle)

    def resume(self, approval_id: str, decision: str, config: AgentConfig) -> Outcome:
        pending = self.pending.take(approval_id)
        if pending is None:
            raise KeyError(approval_id)
        if decision == "approved" and pending.expired:
            decision = "expired"  # a late yes never runs the call
        request = Request(pending.message_id, pending.channel, pending.user, pending.user_text,
                          config, pending.skill)
        return self._run(request, lambda turn: self._resume(turn, pending, decision))

    # -- the governed flow -------------------------------------------------------------
    def _handle(self, turn: _Turn) -> Outcome:
        req = turn.request
        checked = turn.check(Stage.INPUT, req.text)
        if not checked.allowed:
            return Outcome("refused", checked.text)  # the model is never called
        text = checked.text
        dialog = turn.check(Stage.DIALOG, text)
        if not dialog.allowed:
            return Outcome("refused", dialog.text)
        step = self.flows.next_step(req.channel, req.user, dialog.text, req.config.flows)
        if step is not None:
            turn.note("dialog", f"dialog.flow:{step.flow}", "alter", None, step=step.step,
                      scores={"flow_match": step.score})
            return self._reply(turn, text, step.text)
        try:
            skill = self._skill(turn, text)
        except SkillError as exc:
            # A skill that cannot be read cannot narrow the tools: refuse rather than run
            # with the wider tenant allow-list.
            turn.note("execution", "agent.skill", "reject", "skill_invalid")
            return Outcome("refused", f"That skill cannot be used: {exc}")
        messages: list[Message] = [*self.memory.history(req.channel, req.user,
                                                        req.config.history_turns),
                                   {"role": "user", "content": text}]
        system = self._system_prompt(turn, text, skill)
        return self._model_loop(turn, text, system, messages, skill)

    def _skill(self, turn: _Turn, text: str) -> Skill | None:
        name = turn.request.skill
        if name is None and text.startswith("/"):
            name = text[1:].split(maxsplit=1)[0] if len(text) > 1 else None
        if not name:
            return None
        skill = self.skills.load(name)
        if skill is not None:
            turn.note("execution", "agent.skill", "allow", None, skill=skill.name)
        return skill

    def _system_prompt(self, turn: _Turn, text: str, skill: Skill | None) -> str:
        config = turn.request.config
        parts = [*self._brand_preamble(), config.system_prompt]
        if skill is not None:
            parts.append(f"## Skill: {skill.name}\n{skill.instructions}")
        chunks = self.knowledge.search(text, config.knowledge_top_k)
        kept = []
        for c in chunks:
            screened = turn.check(Stage.RETRIEVAL, c.text)
            if screened.allowed:
                kept.append(fence(turn.boundary, f"{c.document}#{c.index}", screened.text))
        if kept:
            parts.append("## Reference material\n" + "\n\n".join(kept))
        if kept or self._allowed_tools(turn, skill):  # tool results come back fenced too
            parts.append(rule(turn.boundary))
        return "\n\n".join(parts)

    def _brand_preamble(self) -> list[str]:
        """A white-label build's preamble comes first; the tenant's own prompt follows it.
        Without a preamble, the agent's display name is still what it answers to."""
        if self.brand.get("preamble"):
            return [self.brand["preamble"]]
        if self.brand.get("agent_name"):
            return [f"Your name is {self.brand['agent_name']}."]
        return []

    def _allowed_tools(self, turn: _Turn, skill: Skill | None) -> list[str]:
        allowed = list(turn.pipeline.policy.tools.allowed)
        return skill.narrow(allowed) if skill is not None else allowed

    def _model_loop(self, turn: _Turn, user_text: str, system: str, messages: list[Message],
                    skill: Skill | None) -> Outcome:
        config = turn.request.config
        registry = self.tools(config)
        allowed = self._allowed_tools(turn, skill)
        try:
            provider = self.provider_factory(self._resolved(config), self.secrets)
        except ProviderError as exc:
            return self._model_error(turn, str(exc))
        for _round in range(config.tools.max_rounds):
            started = time.perf_counter()
            try:
                reply = provider.complete(system, messages, registry.specs(allowed))
            except ProviderError as exc:
                return self._model_error(turn, f"The model could not answer: {exc}")
            finally:
                turn.model_ms += (time.perf_counter() - started) * 1000
            if not reply.tool_calls:
                return self._reply(turn, user_text, reply.text)
            messages.append({"role": "assistant", "content": reply.text,
                             "tool_calls": [c.as_dict() for c in reply.tool_calls]})
            for i, call in enumerate(reply.tool_calls):
                result = self._tool_call(turn, registry, allowed, call)
                if isinstance(result, PendingCall):
                    # Later calls of the same round are not run: the model is asked again
                    # after the decision, with the full picture.
                    result.messages = messages
                    result.skipped = [c.as_dict() for c in reply.tool_calls[i + 1:]]
                    result.system = system
                    result.boundary = turn.boundary
                    return self._await_approval(turn, result)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        return self._reply(turn, user_text, "I could not finish this request within the "
                                            "allowed number of tool calls.")

    def _tool_call(self, turn: _Turn, registry: ToolRegistry, allowed: list[str],
                   call: ToolRequest) -> str | PendingCall:
        if call.malformed:
            turn.note("execution", "agent.tool_schema", "reject", "invalid_arguments",
                      tool=call.name)
            return "Tool call refused: the arguments were not a JSON object."
        if call.name not in allowed and call.name in turn.pipeline.policy.tools.allowed:
            turn.note("execution", "agent.skill", "reject", "tool_not_allowed", tool=call.name)
            return f"Tool call refused: {call.name} is not allowed in this skill."
        serialised = json.dumps({"tool": call.name, "arguments": call.arguments},
                                sort_keys=True)
        decision = turn.check(Stage.EXECUTION, serialised, ToolCall(call.name, call.arguments))
        if decision.allowed or decision.reason == "approval_required":
            problems = registry.validate(call.name, call.arguments)
            if problems:
                turn.note("execution", "agent.tool_schema", "reject", "invalid_arguments",
                          tool=call.name, problems=len(problems))
                return f"Tool call refused: invalid arguments ({'; '.join(problems[:3])})."
        if decision.reason == "approval_required":
            return PendingCall.new(turn.request, call, turn.request.config.approval_ttl_s)
        if not decision.allowed:
            return f"Tool call refused by policy ({decision.reason})."
        return self._execute(turn, registry, call)

    def _execute(self, turn: _Turn, registry: ToolRegistry, call: ToolRequest,
                 approval_id: str | None = None) -> str:
        tool = registry.get(call.name)
        if tool is None:  # allowed by policy but not provided by this agent
            turn.note("execution", "agent.tool_schema", "reject", "unknown_tool", tool=call.name)
            return f"Tool call refused: no tool named {call.name}."
        req = turn.request
        try:
            result = tool.handler(call.arguments,
                                  ToolContext(self.tenant, req.channel, req.user, approval_id))
        except ToolError as exc:
            result = f"Tool error: {exc}"
        except Exception as exc:
            result = f"Tool error: {type(exc).__name__}"
        limit = req.config.tools.max_result_chars
        if len(result) > limit:
            turn.note("execution", "agent.result_size", "alter", None, tool=call.name,
                      chars=len(result), limit=limit)
            result = result[:limit] + "\n[truncated]"
        # Tool output is untrusted data: it passes the retrieval rails (injection screening)
        # before the model may read it.
        screened = turn.check(Stage.RETRIEVAL, result)
        return fence(turn.boundary, f"tool {call.name}", screened.text) if screened.allowed \
            else WITHHELD

    def _await_approval(self, turn: _Turn, pending: PendingCall) -> Outcome:
        self.pending.save(pending)
        turn.note("execution", "agent.approval", "pause", "approval_required",
                  tool=pending.call["name"], approval_id=pending.id)
        reply = (f"This needs a person's approval before I can run {pending.call['name']} "
                 f"(approval {pending.id}).")
        return Outcome("awaiting_approval", reply, approval={
            "id": pending.id, "tool": pending.call["name"],
            "arguments": pending.call["arguments"], "expires_at": pending.expires_at})

    def _resume(self, turn: _Turn, pending: PendingCall, decision: str) -> Outcome:
        call = ToolRequest(pending.call["id"], pending.call["name"], pending.call["arguments"])
        req = turn.request
        turn.boundary = pending.boundary or turn.boundary  # the one the paused prompt names
        if decision != "approved":
            template = EXPIRED if decision == "expired" else DENIED
            turn.note("execution", "agent.approval", "reject", decision, tool=call.name,
                      approval_id=pending.id)
            return self._reply(turn, req.text, template.format(tool=call.name))
        # Re-checked under the current policy: approval cannot revive a call the policy
        # now forbids, and only the "needs approval" refusal is lifted by a yes.
        serialised = json.dumps({"tool": call.name, "arguments": call.arguments},
                                sort_keys=True)
        check = turn.check(Stage.EXECUTION, serialised, ToolCall(call.name, call.arguments))
        registry = self.tools(req.config)
        if not check.allowed and check.reason != "approval_required":
            result = f"Tool call refused by policy ({check.reason})."
        elif registry.validate(call.name, call.arguments):
            result = "Tool call refused: invalid arguments."
        else:
            turn.note("execution", "agent.approval", "allow", None, tool=call.name,
                      approval_id=pending.id)
            result = self._execute(turn, registry, call, approval_id=pending.id)
        messages = [*pending.messages, {"role": "tool", "tool_call_id": call.id,
                                        "content": result}]
        messages += [{"role": "tool", "tool_call_id": c["id"],
                      "content": "Not run: an earlier call needed approval."}
                     for c in pending.skipped]
        skill = self.skills.load(pending.skill) if pending.skill else None
        return self._model_loop(turn, req.text, pending.system, messages, skill)

    def _model_error(self, turn: _Turn, text: str) -> Outcome:
        """A provider's error text is model output too: it can echo the request (a key, a
        card number) and it reaches the person, so it passes the output rails like a
        reply. If they refuse it, only a fixed message is left."""
        out = turn.check(Stage.OUTPUT, text, prompt=turn.request.text)
        shown = out.text if out.allowed else MODEL_FAILED
        return Outcome("model_error", shown, error=shown)

    def _reply(self, turn: _Turn, user_text: str, text: str) -> Outcome:
        out = turn.check(Stage.OUTPUT, text, prompt=user_text)
        if not out.allowed:
            return Outcome("refused", out.text)
        req = turn.request
        self.memory.remember(req.channel, req.user, user_text, out.text)
        return Outcome("answered", out.text)
