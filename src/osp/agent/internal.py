"""The agent's client for the control plane's internal API after boot (stdlib only).

Every call carries this instance's agent key, tenant and instance id; the control plane
also checks that the call comes from this container's address (``osp.runtime.agent_auth``).
What comes back is an access token for one connection and one scope the tenant's policy
lets the agent use without approval, or the result of an approved call the control plane
ran itself: refresh tokens, and tokens for approval-only scopes, never leave it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from osp.agent.tools.registry import ToolError
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


def _reason(exc: urllib.error.HTTPError) -> str:
    """The control plane's one-line reason (it never holds a secret), else a generic one."""
    try:
        said = json.loads(exc.read(MAX_ANSWER)).get("error")
    except (OSError, ValueError, AttributeError):
        said = None
    if isinstance(said, str) and said:
        return said.splitlines()[0][:MAX_REASON]
    return _STATUS.get(exc.code, f"the control plane answered HTTP {exc.code}")


@dataclass(frozen=True)
class InternalApi:
    base_url: str
    tenant: str
    instance_id: str
    agent_key: str = field(repr=False)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the URL comes from the control plane
            self.base_url.rstrip("/") + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.agent_key}",
                     "X-OSP-Tenant": self.tenant, "X-OSP-Instance": self.instance_id,
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:  # noqa: S310
                return json.loads(resp.read(MAX_ANSWER))
        except urllib.error.HTTPError as exc:
            raise ToolError(_reason(exc)) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ToolError("the control plane could not be reached "
                            f"({type(getattr(exc, 'reason', exc)).__name__})") from None

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
