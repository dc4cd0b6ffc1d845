"""Per-tenant admission for requests that wait on a tenant's agent.

A chat turn can wait a long time (a slow model, an agent coming back after a restart). Run
on the server's shared thread pool, 45 messages to one tenant's stopped agent held every
worker, and other tenants' requests and ``/healthz`` waited behind them for a minute. Here:

* such work runs on a pool of its own (``total`` threads), never on the shared one, and the
  route awaits it asynchronously, so waiting turns hold no server worker;
* each tenant has at most ``per_tenant`` turns in progress; one more is refused at once with
  a 429 and a reason (nothing was stored for it), so one tenant cannot fill that pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from osp.errors import Throttled

T = TypeVar("T")


class Busy(Throttled):
    """The tenant already has as many messages in flight as it may."""


class TurnLimits:
    def __init__(self, per_tenant: int, total: int) -> None:
        if per_tenant < 1 or total < per_tenant:
            raise ValueError("need 1 <= per_tenant <= total")
        self.per_tenant = per_tenant
        self.total = total
        self._lock = threading.Lock()
        self._in_flight: dict[uuid.UUID, int] = {}
        self._pool: ThreadPoolExecutor | None = None

    def in_flight(self, tenant_id: uuid.UUID) -> int:
        with self._lock:
            return self._in_flight.get(tenant_id, 0)

    def _admit(self, tenant_id: uuid.UUID) -> None:
        with self._lock:
            count = self._in_flight.get(tenant_id, 0)
            if count >= self.per_tenant:
                raise Busy(f"{count} messages of this tenant are already in progress; "
                           "wait for one to finish and try again")
            self._in_flight[tenant_id] = count + 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.total, thread_name_prefix="osp-turn")

    def _release(self, tenant_id: uuid.UUID) -> None:
        with self._lock:
            count = self._in_flight.get(tenant_id, 1) - 1
            if count > 0:
                self._in_flight[tenant_id] = count
            else:
                self._in_flight.pop(tenant_id, None)

    def run_sync(self, tenant_id: uuid.UUID, work: Callable[[], T]) -> T:
        """The same admission for callers that are threads already (CLI, background jobs)."""
        self._admit(tenant_id)
        try:
            return work()
        finally:
            self._release(tenant_id)

    async def run(self, tenant_id: uuid.UUID, work: Callable[[], T]) -> T:
        """Runs ``work`` on the turn pool once admitted; the caller's event loop stays free."""
        self._admit(tenant_id)
        try:
            assert self._pool is not None  # created by the first admission
            context = contextvars.copy_context()  # request-scoped log fields go along
            future = self._pool.submit(context.run, work)
        except BaseException:
            self._release(tenant_id)
            raise
        # Released when the work has finished, not when the client went away: the thread
        # is busy until then, and the cap counts threads.
        future.add_done_callback(lambda _done: self._release(tenant_id))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
