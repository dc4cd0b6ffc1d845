"""Wiring: the one place that picks implementations from settings and builds the services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from osp.audit.service import AuditTrail
from osp.audit.unproven import UnprovenTrail
from osp.audit.verified import VerifiedChains
from osp.config import Settings
from osp.db.embedded import EmbeddedPostgres
from osp.db.revision import ensure_current
from osp.db.rls import APP_ROLE
from osp.db.roles import DatabaseSetupError, check_app_role, migrate, password_of
from osp.db.session import Database, to_sqlalchemy_url
from osp.errors import OspError
from osp.identity.admin import UserAdmin
from osp.identity.operators import OperatorService
from osp.identity.service import IdentityService
from osp.tenancy.service import TenantService
from osp.vault.interfaces import KekProvider
from osp.vault.kek import LocalFileKek, TransitKek
from osp.vault.service import Vault


@dataclass
class Platform:
    settings: Settings
    db: Database
    audit: AuditTrail
    vault: Vault
    tenants: TenantService
    identity: IdentityService
    admin_url: str
    unproven: UnprovenTrail  # refusals of requests that proved no tenant
    chains: VerifiedChains  # chain verification that remembers a verified prefix (pages)
    user_admin: UserAdmin  # role changes, password and 2FA resets (CLI, console owners)
    operators: OperatorService  # the installation's operators (not in any tenant)


def make_kek(settings: Settings) -> KekProvider:
    if settings.kek_provider == "local":
        return LocalFileKek(settings.kek_file)
    if settings.kek_provider == "transit":
        token = settings.vault_token
        if not settings.transit_url or token is None:
            raise OspError("transit KEK needs OSP_TRANSIT_URL and VAULT_TOKEN")
        return TransitKek(settings.transit_url, token.get_secret_value(), settings.transit_key,
                          settings.transit_mount)
    raise OspError(f"unknown OSP_KEK_PROVIDER {settings.kek_provider!r} (local or transit)")


def _validate_dsn(name: str, url: str) -> None:
    try:
        to_sqlalchemy_url(url)
    except ValueError:
        raise OspError(f"{name} is not a postgresql:// URL") from None


@contextmanager
def open_platform(settings: Settings, *, run_migrations: bool | None = None) -> Iterator[Platform]:
    """Opens the database (starting the embedded one when no DSN is set) and builds services.

    Migrations run by default on the embedded database; on an external one only when asked
    (``osp db migrate``). Either way the run-time role is checked and refused when unsafe.
    """
    embedded: EmbeddedPostgres | None = None
    if settings.database_url:
        _validate_dsn("OSP_DATABASE_URL", settings.database_url)
    if settings.admin_database_url:
        _validate_dsn("OSP_ADMIN_DATABASE_URL", settings.admin_database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if settings.database_url:
            app_url = settings.database_url
            admin_url = settings.admin_database_url or ""
        else:
            embedded = EmbeddedPostgres(settings.pg_dir)
            embedded.start()
            app_url = embedded.dsn(APP_ROLE)
            admin_url = settings.admin_database_url or embedded.dsn("postgres")
        if run_migrations or (run_migrations is None and embedded is not None):
            if not admin_url:
                raise OspError("OSP_ADMIN_DATABASE_URL is needed to migrate an external database")
            if run_migrations:  # `osp db migrate`: roles, password and every revision
                migrate(admin_url, password_of(settings.database_url or ""))
            else:  # any other command: one query, the migrator only when behind
                ensure_current(admin_url, password_of(settings.database_url or ""))
        problems = check_app_role(app_url).problems()
        if problems:
            raise OspError("refusing to start: " + "; ".join(problems))
        db = Database(app_url)
        audit = AuditTrail()
        vault = Vault(make_kek(settings), audit)
        tenants = TenantService(db, audit)
        identity = IdentityService(db, tenants, vault, audit)
        try:
            yield Platform(settings, db, audit, vault, tenants, identity, admin_url,
                           UnprovenTrail(db, audit), VerifiedChains(audit),
                           UserAdmin(db, tenants, audit), OperatorService(db, vault, audit))
        finally:
            db.dispose()
    except DatabaseSetupError as exc:
        raise OspError(str(exc)) from None
    finally:
        if embedded is not None:
            embedded.stop()
