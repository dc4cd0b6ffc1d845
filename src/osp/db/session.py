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
from sqlalchemy.orm import Session, sessionmaker

from osp.errors import Unavailable

# Failures of the database itself (refused or lost connection, pool exhausted, server
# restarting, lock or statement time-out), as opposed to a statement it rejected.
OUTAGES = (sa.OperationalError, sa.InterfaceError, sa.TimeoutError)


class Database:
    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.engine: Engine = create_engine(
            to_sqlalchemy_url(url), pool_size=pool_size, pool_pre_ping=True, future=True
        )
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def _unit(self, setting: str | None, value: str = "") -> Iterator[Session]:
        try:
            with self._factory() as session, session.begin():
                if setting is not None:
                    session.execute(text("SELECT set_config(:k, :v, true)"),
                                    {"k": setting, "v": value})
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
