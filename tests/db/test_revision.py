"""Opening an installation checks the schema version with one query and runs the migrator
only when the database is behind; a database migrated by a newer osp is refused in one line."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from osp.db import revision, roles
from osp.db.roles import DatabaseSetupError
from osp.db.session import to_sqlalchemy_url
from tests.db.test_upgrade import PREVIOUS_RELEASE_HEADS, _versions, scratch_db

__all__ = ["scratch_db"]  # the fixture, used by name below


def test_the_revisions_read_from_the_files_are_alembics() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "osp.db:migrations")
    script = ScriptDirectory.from_config(cfg)
    code = revision.code_revisions()
    assert code.known == frozenset(r.revision for r in script.walk_revisions())
    assert code.applied(code.stamp) == code.known
    assert frozenset(script.get_heads()) <= code.applied(code.stamp)


def test_a_fresh_database_is_migrated_once_then_only_checked(
        scratch_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert revision.database_revisions(scratch_db) is None
    assert revision.ensure_current(scratch_db) is True
    assert _versions(scratch_db) == revision.code_revisions().stamp

    def must_not_run(*_a: object, **_k: object) -> None:
        raise AssertionError("the migrator ran on a database already at the heads")

    monkeypatch.setattr(roles, "migrate", must_not_run)
    assert revision.ensure_current(scratch_db) is False


def test_a_database_behind_the_code_is_migrated(scratch_db: str) -> None:
    engine = create_engine(to_sqlalchemy_url(scratch_db))
    with engine.begin() as conn:
        roles._ensure_roles(conn, None)
    with engine.begin() as conn:  # an installation of the previous release
        conn.execute(text(f"SET ROLE {roles.OWNER_ROLE}"))
        for head in PREVIOUS_RELEASE_HEADS:
            command.upgrade(roles._alembic_config(conn), head)
    engine.dispose()
    assert not revision.at_heads(revision.database_revisions(scratch_db),
                                 revision.code_revisions())
    assert revision.ensure_current(scratch_db) is True
    assert _versions(scratch_db) == revision.code_revisions().stamp
    assert revision.ensure_current(scratch_db) is False


def test_a_database_ahead_of_the_code_is_refused_in_one_line(scratch_db: str) -> None:
    revision.ensure_current(scratch_db)
    engine = create_engine(to_sqlalchemy_url(scratch_db))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future' "
                          "WHERE version_num = '0008_operators'"))
    engine.dispose()
    with pytest.raises(DatabaseSetupError) as err:
        revision.ensure_current(scratch_db)
    message = str(err.value)
    assert "0099_from_the_future" in message and "newer osp" in message
    assert "\n" not in message
    assert "0099_from_the_future" in _versions(scratch_db)  # nothing was touched


def test_concurrent_openers_of_a_fresh_database_both_succeed(scratch_db: str) -> None:
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            revision.ensure_current(scratch_db)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _versions(scratch_db) == revision.code_revisions().stamp
