"""The agent's client for the control plane's internal API after boot (stdlib only).

Every call carries this instance's agent key, tenant and instance id; the control plane
also checks that the call comes from this container's address (``osp.runtime.agent_auth``).
What comes back is only ever an access token for one connection and one scope: refresh
tokens never leave the control plane.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from osp.agent.tools.registry import ToolError

TIMEOUT_S = 15.0
MAX_ANSWER = 256 * 1024
# What the control plane's refusals mean to a person reading the tool's result.
_STATUS = {
    401: "the control plane did not recognise this agent",
    403: "that permission was not granted when the app was connected",
    404: "the connection no longer exists",
    409: "the connection must be authorised again by a person (osp connect)",
}


@dataclass(frozen=True)
class Connection:
    id: uuid.UUID
    provider: str
    status: str
    scopes: tuple[str, ...]


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
            raise ToolError(_STATUS.get(exc.code, f"the control plane answered HTTP "
                                                  f"{exc.code}")) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ToolError("the control plane could not be reached "
                            f"({type(getattr(exc, 'reason', exc)).__name__})") from None

    def connections(self) -> list[Connection]:
        rows = self._call("GET", "/internal/v1/oauth/connections")
        return [Connection(uuid.UUID(r["id"]), str(r["provider"]), str(r["status"]),
                           tuple(r["scopes"])) for r in rows]

    def token(self, connection_id: uuid.UUID, scope: str, *,
              force_refresh: bool = False) -> str:
        answer = self._call("POST", "/internal/v1/oauth/token", {
            "connection_id": str(connection_id), "scope": scope,
            "force_refresh": force_refresh})
        return str(answer["access_token"])
