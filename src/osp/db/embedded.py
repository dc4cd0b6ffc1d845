"""The embedded PostgreSQL (pgserver) used when no ``OSP_DATABASE_URL`` is given."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

APP_DB = "osp"


class EmbeddedPostgres:
    """A Postgres server living in ``<data_dir>/pg``, reachable only on its unix socket.

    Listening on a socket inside the data dir (no TCP) keeps the database out of reach of
    tenant containers by construction: they share no filesystem with the host.
    """

    def __init__(self, pg_dir: Path) -> None:
        self.pg_dir = pg_dir
        self._server: Any = None

    def start(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            self.pg_dir.parent.mkdir(parents=True, exist_ok=True)
            self._server = pgserver.get_server(  # type: ignore[attr-defined]
                self.pg_dir, cleanup_mode="stop")
        self._ensure_database()

    def _ensure_database(self) -> None:
        out = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{APP_DB}';")
        if "1 row" not in out:
            self._server.psql(f"CREATE DATABASE {APP_DB};")

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None

    @property
    def socket_dir(self) -> str:
        return str(self.pg_dir)

    def dsn(self, user: str, database: str = APP_DB) -> str:
        return f"postgresql://{quote(user)}@/{database}?host={quote(self.socket_dir, safe='')}"



@contextlib.contextmanager
def running(pg_dir: Path) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(pg_dir)
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
