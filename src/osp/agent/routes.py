"""The governed agent's POST routes (imported on the first request; see ``serve``)."""

from __future__ import annotations

from typing import Any

from osp.agent import main as agent_main
from osp.agent.channels.send import ChannelError, deliver
from osp.agent.config import ConfigError, parse_config_cached
from osp.agent.knowledge import KnowledgeError
from osp.agent.loop import Agent, Request
from osp.agent.serve import MAX_BODY
from osp.agent.skills import SkillError
from osp.governance.schema import schema_hash


class BadRequest(Exception):
    pass


class LockstepRefused(Exception):
    """The control plane sent a policy written for another policy schema."""


def check_lockstep(body: dict[str, Any]) -> None:
    """Serve only policies written for the schema this agent's governance reads.

    Fail closed: a policy from a control plane on another schema could parse here with
    fields silently ignored or defaulted (a rail the operator turned on, off in fact), and
    a body that does not say which schema it was written for is treated the same way.
    """
    sent = body.get("policy_schema")
    ours = schema_hash()
    if sent != ours:
        said = str(sent)[:19] if isinstance(sent, str) and sent else "no schema"
        agent_main.log("agent.lockstep_refused", sent=said, ours=ours[:19])
        raise LockstepRefused(f"governance lockstep: this agent reads policy schema "
                              f"{ours[:19]}, the control plane sent one for {said}; "
                              "refusing to serve (upgrade the agent or the control plane)")


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadRequest(f"{key} must be a non-empty string of at most {limit} characters")
    return value


def dispatch(agent: Agent, path: str, body: dict[str, Any]) -> dict[str, Any]:
    if path == "/v1/messages":
        check_lockstep(body)
        skill = body.get("skill")
        request = Request(
            message_id=_text(body, "message_id", 64), channel=_text(body, "channel", 16),
            user=_text(body, "user", 200), text=_text(body, "text", 32_000),
            config=parse_config_cached(body.get("config") or {}),
            skill=skill if isinstance(skill, str) else None)
        done = agent.outbox.get(request.message_id)
        if done is not None:
            return done  # a re-sent message: the same answer, nothing runs twice
        outcome = agent.handle(request).as_dict()
        agent.outbox.put(request.message_id, outcome)
        return outcome
    if path.startswith("/v1/approvals/"):
        decision = body.get("decision")
        if decision not in ("approved", "denied", "expired"):
            raise BadRequest("decision must be approved, denied or expired")
        check_lockstep(body)
        config = parse_config_cached(body.get("config") or {})
        approval_id = path.removeprefix("/v1/approvals/")
        done = agent.outbox.get(f"approval-{approval_id}")
        if done is not None:
            return done
        try:
            outcome = agent.resume(approval_id, decision, config).as_dict()
        except KeyError:
            raise LookupError("no such pending approval (already decided?)") from None
        agent.outbox.put(f"approval-{approval_id}", outcome)
        return outcome
    if path == "/v1/deliver":
        config = parse_config_cached(body.get("config") or {})
        reply_to = body.get("reply_to")
        if not isinstance(reply_to, dict):
            raise BadRequest("reply_to must be an object")
        urls = {"slack": agent.resolve_url(config.channels.slack_api_url),
                "telegram": agent.resolve_url(config.channels.telegram_api_url)}
        try:
            return {"channel": deliver(reply_to, _text(body, "text", 40_000), agent.secrets, urls)}
        except ChannelError as exc:
            raise BadRequest(str(exc)) from None
    if path == "/v1/knowledge":
        return {"chunks": agent.knowledge.add(_text(body, "name", 100),
                                              _text(body, "content", MAX_BODY))}
    if path == "/v1/skills":
        skill = agent.skills.install(_text(body, "name", 40), _text(body, "content", 65536))
        return {"name": skill.name, "allowed_tools": skill.allowed_tools}
    raise LookupError("not found")


def handle(agent: Agent, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        return 200, dispatch(agent, path, body)
    except (BadRequest, ConfigError, KnowledgeError, SkillError, ValueError) as exc:
        return 400, {"error": str(exc).splitlines()[0][:300]}
    except LookupError as exc:
        return 404, {"error": str(exc)}
    except LockstepRefused as exc:
        return 409, {"error": str(exc)}
    except Exception as exc:  # never a traceback to the caller; the log has the type
        agent_main.log("agent.error", error_type=type(exc).__name__, path=path)
        return 500, {"error": "internal error"}
