"""The agent's client for the control plane's internal API after boot (stdlib only).

Every call carries this instance's agent key, tenant and instance id; the control plane
also checks that the call comes from this container's address (``osp.runtime.agent_auth``).
What comes back is an access token for one connection and one scope the tenant's policy
lets the agent use without approval, or the result of an approved call the control plane
ran itself: refresh tokens, and tokens for approval-only scopes, never leave it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from osp.agent.tools.registry import ToolError
from osp.checks.outbound import OutboundError, fetch
from osp.oauth.tools import ConnectionView

# Longer than the control plane's own provider timeout (osp.oauth.tools.TIMEOUT_S), so an
# approved call it runs is not given up on here while it still completes there.
TIMEOUT_S = 30.0
MAX_ANSWER = 1024 * 1024  # a tool result is capped at 512 KiB, plus its JSON envelope
# What the control plane's refusals mean, when its answer does not say.
_STATUS = {
    401: "the control plane did not recognise this agent",
    403: "the control plane refused",
    404: "the connection no longer exists",
    409: "the connection must be authorised again by a person (osp connect)",
}
MAX_REASON = 300


def _reason(status: int, body: bytes) -> str:
    """The control plane's one-line reason (it never holds a secret), else a generic one."""
    try:
        said = json.loads(body).get("error")
    except (ValueError, AttributeError):
        said = None
    if isinstance(said, str) and said:
        return said.splitlines()[0][:MAX_REASON]
    return _STATUS.get(status, f"the control plane answered HTTP {status}")


@dataclass(frozen=True)
class InternalApi:
    base_url: str
    tenant: str
    instance_id: str
    agent_key: str = field(repr=False)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        # No redirect is followed (it would take the agent key elsewhere), no proxy is used.
        try:
            answer = fetch(method, self.base_url.rstrip("/") + path,
                           body=json.dumps(body).encode() if body is not None else None,
                           headers={"Authorization": f"Bearer {self.agent_key}",
                                    "X-OSP-Tenant": self.tenant,
                                    "X-OSP-Instance": self.instance_id,
                                    "Content-Type": "application/json"},
                           timeout=TIMEOUT_S, max_bytes=MAX_ANSWER)
        except OutboundError as exc:
            raise ToolError(f"the control plane could not be reached: {exc}") from None
        if answer.status >= 300:
            raise ToolError(_reason(answer.status, answer.body))
        try:
            return json.loads(answer.body)
        except ValueError:
            raise ToolError("the control plane sent an answer that is not JSON") from None

    def connections(self) -> list[ConnectionView]:
        rows = self._call("GET", "/internal/v1/oauth/connections")
        return [ConnectionView(uuid.UUID(r["id"]), str(r["provider"]), str(r["status"]),
                               tuple(r["scopes"])) for r in rows]

    def token(self, connection_id: uuid.UUID, scope: str, *,
              force_refresh: bool = False) -> str:
        answer = self._call("POST", "/internal/v1/oauth/token", {
            "connection_id": str(connection_id), "scope": scope,
            "force_refresh": force_refresh})
        return str(answer["access_token"])

    def run(self, tool: str, approval_id: str, arguments: dict[str, Any]) -> Any:
        """Has the control plane run an approved call (its token never comes here)."""
        answer = self._call("POST", f"/internal/v1/oauth/tools/{tool}/run", {
            "approval_id": str(uuid.UUID(hex=approval_id)), "arguments": arguments})
        return answer.get("data")

    def score(self, text: str, heads: tuple[str, ...], context: str | None = None) -> Any:
        """The control plane's shared encoder scores ``text`` (osp.gateway.scoring), read with
        ``context`` (the tenant's instructions) when given."""
        body: dict[str, Any] = {"text": text, "heads": list(heads)}
        if context:
            body["context"] = context
        return self._call("POST", "/internal/v1/governance/score", body)
