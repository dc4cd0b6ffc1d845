"""Who is calling the internal API after boot: one running agent instance, proven three ways.

A booted agent presents::

    Authorization: Bearer <agent key>
    X-OSP-Tenant: <tenant name>
    X-OSP-Instance: <instance id>

and the call is accepted only when all three hold:

1. the key is HMAC(runtime key, "agent:<tenant>:<instance>"): only the control plane can
   derive it, and it reached that instance alone, at its bootstrap exchange;
2. the instance is the one the engine runs for that tenant *now* (a stopped or replaced
   instance's key is worthless);
3. the request comes from that container's own address on the tenant's private network.

So another tenant's container cannot borrow the identity even if it learned a key, and a
stolen key is useless outside the container it belongs to. Routes get the tenant's id;
RLS then confines everything they do to that tenant.

Asking the engine costs a ``podman inspect`` (most of a token request's time), so a check
that passed is remembered for ``cache_s`` seconds. Only an exact match (tenant, instance,
address) reuses it; anything else asks the engine again. The window this leaves: for at
most ``cache_s`` after a stop, a request from the stopped container's address with its key
still passes, but a stopped container sends nothing, and its address is only ever reused
by that same tenant's next instance.
"""

from __future__ import annotations

import hmac
import threading
import time
import uuid
from collections.abc import Callable

from fastapi import Request

from osp.errors import OspError, Unauthorized
from osp.runtime.bootstrap import AuditSink, BootstrapService
from osp.runtime.interfaces import RuntimeBackend, RuntimeBackendError, State

TENANT_HEADER = "X-OSP-Tenant"
INSTANCE_HEADER = "X-OSP-Instance"
TenantIdOf = Callable[[str], uuid.UUID]  # tenant name -> id (raises OspError if unknown)


class AgentAuthenticator:
    """A FastAPI-friendly callable: ``authenticate(request) -> tenant id`` or Unauthorized."""

    def __init__(self, bootstrap: BootstrapService, backend: RuntimeBackend,
                 tenant_id_of: TenantIdOf, audit: AuditSink, cache_s: float = 2.0) -> None:
        self.bootstrap, self.backend = bootstrap, backend
        self.tenant_id_of, self.audit = tenant_id_of, audit
        self.cache_s = cache_s
        # tenant -> (valid until, instance, address, tenant id): checks that passed.
        self._passed: dict[str, tuple[float, str, str, uuid.UUID]] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> uuid.UUID:
        tenant = request.headers.get(TENANT_HEADER, "")[:64]
        instance = request.headers.get(INSTANCE_HEADER, "")[:64]
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        peer = request.client.host if request.client else ""
        # The key is checked first and costs no engine call, so garbage is cheap to refuse.
        # Refusals before it matches prove no tenant: they go to the (rate-limited) platform
        # trail, not into the trail of whichever tenant the caller named.
        if not (tenant and instance and key) or not hmac.compare_digest(
                key, self.bootstrap.agent_key(tenant, instance)):
            self.audit(None, "runtime.agent_auth.refused",
                       {"reason": "bad_key", "claimed_tenant": tenant, "peer": peer})
            raise Unauthorized("agent not recognised")
        now = time.monotonic()
        with self._lock:
            seen = self._passed.get(tenant)
        if seen and seen[0] > now and seen[1] == instance and seen[2] == peer:
            return seen[3]
        try:
            running = self.backend.status(tenant)
        except (RuntimeBackendError, ValueError):
            running = None
        if running is None or running.state != State.RUNNING or not hmac.compare_digest(
                running.instance_id, instance):
            # A genuine key of an instance that no longer runs (or runs for someone else).
            self._refuse(tenant, "stale_instance", instance, peer)
        elif not peer or running.ip != peer:
            # A genuine, current key from the wrong address: the key left its container.
            self._refuse(tenant, "wrong_peer", instance, peer)
        try:
            tenant_id = self.tenant_id_of(tenant)
        except OspError:
            raise Unauthorized("agent not recognised") from None
        if self.cache_s > 0:
            with self._lock:
                self._passed[tenant] = (now + self.cache_s, instance, peer, tenant_id)
        return tenant_id

    def _refuse(self, tenant: str, reason: str, instance: str, peer: str) -> None:
        self.audit(tenant, "runtime.agent_auth.refused",
                   {"reason": reason, "instance_id": instance, "peer": peer})
        raise Unauthorized("agent not recognised")
