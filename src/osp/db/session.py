"""Engine and units of work. Every unit of work is one transaction with its scope set LOCAL.

``SET LOCAL`` (via ``set_config(..., true)``) lasts exactly one transaction, so a pooled
connection (or a transaction-mode pgbouncer) never carries one tenant's context into the
next unit of work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker


class Database:
    def __init__(self, url: str, *, pool_size: int = 5) -> None:
        self.url = url
        self.engine: Engine = create_engine(
            to_sqlalchemy_url(url), pool_size=pool_size, pool_pre_ping=True, future=True
        )
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def tenant(self, tenant_id: uuid.UUID) -> Iterator[Session]:
        """A transaction that sees and writes only ``tenant_id``'s rows (RLS does the filtering)."""
        with self._factory() as session, session.begin():
            session.execute(
                text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)}
            )
            yield session

    @contextmanager
    def platform(self) -> Iterator[Session]:
        """A transaction for operator work on the tenant registry (no tenant context).

        It can list and create tenants; every tenant-data table still returns nothing here,
        because their policies only match ``app.tenant_id``.
        """
        with self._factory() as session, session.begin():
            session.execute(text("SELECT set_config('app.scope', 'platform', true)"))
            yield session

    @contextmanager
    def unscoped(self) -> Iterator[Session]:
        """A transaction with no scope at all: RLS tables return no rows and refuse writes."""
        with self._factory() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def to_sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("database URL must start with postgresql:// (got an unsupported scheme)")
