"""The ORM models and the migrations describe one schema: a database migrated from nothing
matches the models exactly (alembic's compare_metadata), so neither can drift."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import osp
from osp.db.base import Base
from osp.db.session import to_sqlalchemy_url
from osp.platform import Platform


def _import_every_models_module() -> list[str]:
    # Walking is right here (and only here): a models module nobody imports yet must still
    # be compared, or a table could exist in the code and never in a migration.
    found = [m.name for m in pkgutil.walk_packages(osp.__path__, "osp.")
             if m.name.endswith(".models")]
    for name in found:
        importlib.import_module(name)
    return found


def _differences(admin_url: str) -> list[Any]:
    engine = create_engine(to_sqlalchemy_url(admin_url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                             "compare_server_default": False})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_models_and_migrations_describe_one_schema(platform: Platform) -> None:
    modules = _import_every_models_module()
    assert len(modules) >= 8, modules
    # alembic_version is the migration tool's own table, not the product's.
    diffs = [d for d in _differences(platform.admin_url)
             if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diffs == [], "\n".join(map(str, diffs))


def test_a_model_change_without_a_migration_is_caught(platform: Platform) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    _import_every_models_module()
    extra = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(extra)
    Table("not_migrated", extra, Column("id", Integer, primary_key=True))
    engine = create_engine(to_sqlalchemy_url(platform.admin_url))
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), extra)
    finally:
        engine.dispose()
    assert any(d[0] == "add_table" and d[1].name == "not_migrated" for d in diffs)
