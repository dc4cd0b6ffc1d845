"""An installation created by an earlier release upgrades in place: a database left at the
heads the previous release shipped (0002_runtime, 0003_oauth, 0006_message_protection) is
migrated by today's code to the same schema a fresh database gets, and migrating again
changes nothing (`osp db migrate` runs the migrator every time)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from osp.db import roles
from osp.db.session import to_sqlalchemy_url
from osp.platform import Platform
from tests.db.test_schema import _differences, _import_every_models_module

PREVIOUS_RELEASE_HEADS = ("0002_runtime", "0003_oauth", "0006_message_protection")


@pytest.fixture
def scratch_db(platform: Platform) -> Iterator[str]:
    name = f"upgrade_{uuid.uuid4().hex[:8]}"
    admin = create_engine(to_sqlalchemy_url(platform.admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(platform.admin_url).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _versions(url: str) -> set[str]:
    engine = create_engine(to_sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def test_a_database_of_the_previous_release_upgrades_in_place(scratch_db: str) -> None:
    engine = create_engine(to_sqlalchemy_url(scratch_db))
    with engine.begin() as conn:
        roles._ensure_roles(conn, None)
    with engine.begin() as conn:
        conn.execute(text(f"SET ROLE {roles.OWNER_ROLE}"))
        for head in PREVIOUS_RELEASE_HEADS:
            command.upgrade(roles._alembic_config(conn), head)
    engine.dispose()
    assert _versions(scratch_db) == set(PREVIOUS_RELEASE_HEADS)

    roles.migrate(scratch_db)
    upgraded = _versions(scratch_db)
    assert "0008_operators" in upgraded
    roles.migrate(scratch_db)  # a second CLI command: nothing left to do, no error
    assert _versions(scratch_db) == upgraded

    _import_every_models_module()
    diffs = [d for d in _differences(scratch_db)
             if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diffs == [], "\n".join(map(str, diffs))
