"""Engine and units of work. Every unit of work is one transaction with its scope set LOCAL.

``SET LOCAL`` (via ``set_config(..., true)``) lasts exactly one transaction, so a pooled
connection (or a transaction-mode pgbouncer) never carries one tenant's context into the
next unit of work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy import exc as sa
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from osp.errors import Unavailable

# Failures of the database itself (refused or lost connection, pool exhausted, server
# restarting, lock or statement time-out), as opposed to a statement it rejected.
OUTAGES = (sa.OperationalError, sa.InterfaceError, sa.TimeoutError)


class Database:
    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        # No ping on every checkout (one round trip per unit of work, about five per chat
        # message): a pooled connection the server dropped is detected by the unit's first
        # statement instead, and that unit is retried once on a fresh connection (see _open).
        self.engine: Engine = create_engine(
            to_sqlalchemy_url(url), pool_size=pool_size, pool_pre_ping=False, future=True
        )
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    def _open(self, setting: str | None, value: str) -> tuple[Session, SessionTransaction]:
        """A session in a transaction whose first statement has run. That statement sets the
        unit's scope (a probe for an unscoped unit), so when the pooled connection turns out
        dead (Postgres restarted, an idle connection dropped) nothing of the caller has run
        yet and the unit can start again on a new connection. The pool then discards every
        connection older than the failure, so one restart costs one retry, not one per
        pooled connection."""
        for attempt in (1, 2):
            session = self._factory()
            transaction = session.begin()
            try:
                if setting is None:
                    session.execute(text("SELECT 1"))
                else:
                    session.execute(text("SELECT set_config(:k, :v, true)"),
                                    {"k": setting, "v": value})
            except sa.DBAPIError as exc:
                session.close()
                if attempt == 2 or not exc.connection_invalidated:
                    raise
                continue
            return session, transaction
        raise AssertionError("unreachable")

    @contextmanager
    def _unit(self, setting: str | None, value: str = "") -> Iterator[Session]:
        try:
            session, transaction = self._open(setting, value)
            with session, transaction:
                yield session
        except OUTAGES as exc:
            # An outage is reported as an outage: callers must never read it as "unknown
            # tenant" or "no such token" (and refuse or, worse, create on that basis).
            raise Unavailable("the database is unavailable right now; try again shortly") \
                from exc

    def tenant(self, tenant_id: uuid.UUID) -> AbstractContextManager[Session]:
        """A transaction that sees and writes only ``tenant_id``'s rows (RLS does the filtering)."""
        return self._unit("app.tenant_id", str(tenant_id))

    def platform(self) -> AbstractContextManager[Session]:
        """A transaction for operator work on the tenant registry (no tenant context).

        It can list and create tenants; every tenant-data table still returns nothing here,
        because their policies only match ``app.tenant_id``.
        """
        return self._unit("app.scope", "platform")

    def unscoped(self) -> AbstractContextManager[Session]:
        """A transaction with no scope at all: RLS tables return no rows and refuse writes."""
        return self._unit(None)

    def dispose(self) -> None:
        self.engine.dispose()


def to_sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("database URL must start with postgresql:// (got an unsupported scheme)")
