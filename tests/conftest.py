"""Shared fixtures: one real embedded Postgres (pgserver) per test session, migrated."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

# pgserver keeps its lock under XDG_RUNTIME_DIR; without one it warns (warnings are errors).
os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/osp-runtime-{os.getuid()}")
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)

import pytest  # noqa: E402

from osp.config import Settings  # noqa: E402
from osp.errors import NotFound  # noqa: E402
from osp.platform import Platform, open_platform  # noqa: E402
from osp.tenancy.service import TenantInfo  # noqa: E402
from tests.oidc import OidcServer, running_oidc  # noqa: E402


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("osp-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture(scope="session")
def platform(settings: Settings) -> Iterator[Platform]:
    with open_platform(settings) as p:
        yield p


@pytest.fixture
def make_tenant(platform: Platform) -> Iterator[Callable[..., TenantInfo]]:
    """Creates uniquely named tenants and deletes them (and their data) after the test."""
    made: list[TenantInfo] = []

    def make(prefix: str = "t", **kw: bool) -> TenantInfo:
        t = platform.tenants.create(f"{prefix}-{uuid.uuid4().hex[:10]}", "test", **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        with contextlib.suppress(NotFound):
            platform.tenants.delete(t, "test")


@pytest.fixture
def superuser_sql(platform: Platform) -> Callable[[str], list[tuple[object, ...]]]:
    """Runs SQL as the database superuser: the attacker with full DB access, in tamper tests."""
    from sqlalchemy import create_engine, text

    from osp.db.session import to_sqlalchemy_url

    engine = create_engine(to_sqlalchemy_url(platform.admin_url))

    def run(sql: str) -> list[tuple[object, ...]]:
        with engine.begin() as conn:
            res = conn.execute(text(sql))
            return [tuple(r) for r in res] if res.returns_rows else []

    return run


@pytest.fixture(scope="session")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    """The real OpenID provider, once per session (OAuth and connected-app agent tests)."""
    with running_oidc(tmp_path_factory.mktemp("oidc")) as server:
        yield server
