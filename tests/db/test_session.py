"""Units of work: no round trip spent on pinging a pooled connection, and a connection the
server dropped (Postgres restarted, an idle connection cut) costs a retry, not an error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from osp.db.session import Database
from osp.platform import Platform


@pytest.fixture
def db(platform: Platform) -> Iterator[Database]:
    own = Database(platform.db.url)
    yield own
    own.dispose()


def test_a_unit_of_work_does_not_ping_its_connection(db: Database,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pings: list[object] = []
    original = db.engine.dialect.do_ping

    def counting(connection: object) -> bool:
        pings.append(connection)
        return original(connection)  # type: ignore[arg-type]

    monkeypatch.setattr(db.engine.dialect, "do_ping", counting)
    for _ in range(10):
        with db.platform() as s:
            assert s.execute(text("SELECT 1")).scalar() == 1

    assert pings == []


def test_connections_the_server_dropped_cost_one_retry_not_an_error(db: Database) -> None:
    # Three connections in the pool at once, then their server processes are ended (what a
    # Postgres restart does to a pool).
    with db.platform() as a, db.platform() as b, db.platform() as c:
        pids = {int(s.execute(text("SELECT pg_backend_pid()")).scalar_one()) for s in (a, b, c)}
    killer = Database(db.url)
    try:
        with killer.platform() as k:
            for pid in pids:
                assert k.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        killer.dispose()

    seen = set()
    for _ in range(3):
        with db.platform() as s:
            seen.add(int(s.execute(text("SELECT pg_backend_pid()")).scalar_one()))

    assert not seen & pids
