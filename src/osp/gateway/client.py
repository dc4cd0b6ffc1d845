"""HTTP from the control plane to a tenant's agent, and a locator backed by the runtime.

The address is the container's on that tenant's own bridge network; the bearer key is
derived per container instance (``BootstrapService.status_key``), so a request can only be
accepted by the instance it was meant for.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx

from osp.gateway.interfaces import AgentEndpoint, Rejected, Unreachable
from osp.governance.schema import schema_hash
from osp.runtime.interfaces import RuntimeBackendError, State
from osp.runtime.wiring import RuntimeParts


class HttpTransport:
    def __init__(self) -> None:
        self._client = httpx.Client(trust_env=False)

    def post(self, endpoint: AgentEndpoint, path: str, body: dict[str, Any],
             timeout_s: float) -> dict[str, Any]:
        if "config" in body:
            body = {**body, "policy_schema": lockstep(endpoint)}
        try:
            response = self._client.post(
                endpoint.url + path, json=body, timeout=httpx.Timeout(timeout_s, connect=3.0),
                headers={"Authorization": f"Bearer {endpoint.key}"})
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Nothing was delivered: safe to retry (e.g. the address of a replaced instance).
            raise Unreachable(type(exc).__name__) from None
        except httpx.TimeoutException:
            # Not retried: the agent may still be working on it, and a retry could act twice.
            raise Rejected(504, f"the agent did not answer within {timeout_s:g}s") from None
        except httpx.TransportError as exc:
            raise Unreachable(type(exc).__name__) from None
        if response.status_code == 401:
            raise Unreachable("agent refused the key (a new instance?)")
        try:
            data = response.json()
        except ValueError:
            raise Rejected(502, "the agent sent an answer that is not JSON") from None
        if response.status_code != 200 or not isinstance(data, dict):
            error = data.get("error") if isinstance(data, dict) else None
            raise Rejected(response.status_code, str(error or "agent error")[:300])
        return data

    def close(self) -> None:
        self._client.close()


def lockstep(endpoint: AgentEndpoint) -> str:
    """The schema hash to stamp on a policy for this agent; refused (409, nothing sent)
    when the agent's image reads another schema, or does not say which (fail closed): its
    governance could read the policy with fields silently ignored or defaulted."""
    ours = schema_hash()
    if endpoint.policy_schema != ours:
        theirs = endpoint.policy_schema[:19] or "an unlabelled schema"
        raise Rejected(409, f"governance lockstep: the agent's image reads policy schema "
                            f"{theirs}, this control plane writes {ours[:19]}; policy not "
                            "sent (move the tenant to a matching image)")
    return ours


class RuntimeLocator:
    """Asks the engine where a tenant's agent runs; caches it until a delivery fails
    (asking the engine costs a process start, too slow for every message)."""

    def __init__(self, parts: RuntimeParts) -> None:
        self.parts = parts
        self._cache: dict[str, AgentEndpoint] = {}
        self._lock = threading.Lock()

    def locate(self, tenant: str) -> AgentEndpoint | None:
        with self._lock:
            cached = self._cache.get(tenant)
        if cached is not None:
            return cached
        try:
            runtime = self.parts.backend.status(tenant)
        except RuntimeBackendError:
            return None
        if runtime.state != State.RUNNING or not runtime.agent_url or not runtime.instance_id:
            return None
        endpoint = AgentEndpoint(runtime.agent_url,
                                 self.parts.bootstrap.status_key(runtime.instance_id),
                                 runtime.instance_id, runtime.policy_schema)
        with self._lock:
            self._cache[tenant] = endpoint
        return endpoint

    def forget(self, tenant: str) -> None:
        with self._lock:
            self._cache.pop(tenant, None)

    def expected(self, tenant_id: uuid.UUID) -> bool:
        # One indexed read, no engine call: cheap enough for every message of a flood.
        return self.parts.service.repo.get(tenant_id).desired == "running"
