"""Database roles: the owner runs migrations, the app role owns nothing and cannot bypass RLS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from osp.db.rls import APP_ROLE
from osp.db.session import to_sqlalchemy_url

if TYPE_CHECKING:
    from alembic.config import Config

OWNER_ROLE = "osp_owner"
# One key for "someone is migrating this database": concurrent openers of a database that is
# behind wait for each other instead of racing on CREATE ROLE and the same DDL.
MIGRATION_LOCK = 0x05B_0001


class DatabaseSetupError(Exception):
    """A one-line, operator-facing reason the database cannot be used."""


@dataclass(frozen=True)
class RoleCheck:
    role: str
    superuser: bool
    bypassrls: bool
    owned_tables: list[str]

    def problems(self) -> list[str]:
        out = []
        if self.superuser:
            out.append(f"role {self.role!r} is a superuser")
        if self.bypassrls:
            out.append(f"role {self.role!r} has BYPASSRLS")
        if self.owned_tables:
            out.append(f"role {self.role!r} owns (or inherits ownership of) "
                       f"{', '.join(sorted(self.owned_tables))}")
        return out


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "osp.db:migrations")
    cfg.attributes["connection"] = connection
    return cfg


def migrate(admin_url: str, app_password: str | None = None) -> None:
    """Create the roles when missing and apply every migration. Safe to run repeatedly."""
    try:
        engine = create_engine(to_sqlalchemy_url(admin_url))
        with engine.connect() as lock:
            lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
            lock.commit()
            try:
                _migrate_locked(engine, app_password)
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                lock.commit()
        engine.dispose()
    except SQLAlchemyError as exc:
        raise DatabaseSetupError(f"migration failed: {_first_line(exc)}") from None


def _migrate_locked(engine: Engine, app_password: str | None) -> None:
    from alembic import command

    with engine.begin() as conn:
        _ensure_roles(conn, app_password)
    with engine.begin() as conn:
        superuser = conn.execute(text("SELECT rolsuper FROM pg_roles "
                                      "WHERE rolname = current_user")).scalar_one()
        if superuser:
            # Tables must belong to a dedicated owner role, never to a superuser and
            # never to the app role (an owner can ALTER TABLE ... DISABLE RLS).
            conn.execute(text(f"SET ROLE {OWNER_ROLE}"))
        # "heads": feature packages add migration branches off 0001_core independently.
        command.upgrade(_alembic_config(conn), "heads")


def _ensure_roles(conn: Connection, app_password: str | None) -> None:
    me = conn.execute(text("SELECT rolsuper, rolcreaterole FROM pg_roles "
                           "WHERE rolname = current_user")).one()
    if not (me.rolsuper or me.rolcreaterole):
        raise DatabaseSetupError("the admin DSN must be a superuser or have CREATEROLE")
    existing = set(conn.execute(text("SELECT rolname FROM pg_roles")).scalars())
    db = conn.execute(text("SELECT current_database()")).scalar_one()
    if me.rolsuper and OWNER_ROLE not in existing:
        conn.execute(text(f"CREATE ROLE {OWNER_ROLE} NOLOGIN"))
    if me.rolsuper:
        conn.execute(text(f"GRANT CREATE, USAGE ON SCHEMA public TO {OWNER_ROLE}"))
        conn.execute(text(f'GRANT CREATE ON DATABASE "{db}" TO {OWNER_ROLE}'))
    if APP_ROLE not in existing:
        conn.execute(text(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS "
                          "NOCREATEDB NOCREATEROLE NOINHERIT"))
    if app_password:
        # ALTER ROLE takes no bind parameters and statements can end up in server logs or
        # pg_stat_statements, so only a SCRAM verifier computed here is ever sent.
        conn.exec_driver_sql(f"ALTER ROLE {APP_ROLE} PASSWORD '{scram_verifier(app_password)}'")
    conn.execute(text(f'GRANT CONNECT ON DATABASE "{db}" TO {APP_ROLE}'))
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))


def scram_verifier(password: str, iterations: int = 4096, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier Postgres stores (RFC 5802/7677); base64 is quote-safe."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    b64 = base64.b64encode
    return (f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
            f"${b64(stored_key).decode()}:{b64(server_key).decode()}")


def check_app_role(app_url: str) -> RoleCheck:
    """Inspect the run-time role. The caller refuses to start when ``problems()`` is not empty."""
    try:
        engine = create_engine(to_sqlalchemy_url(app_url))
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT current_user AS role, rolsuper, rolbypassrls FROM pg_roles "
                "WHERE rolname = current_user")).one()
            owned = list(conn.execute(text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') "
                "AND pg_has_role(current_user, c.relowner, 'USAGE')")).scalars())
        engine.dispose()
    except SQLAlchemyError as exc:
        raise DatabaseSetupError(f"cannot connect with OSP_DATABASE_URL: {_first_line(exc)}") \
            from None
    return RoleCheck(row.role, row.rolsuper, row.rolbypassrls, owned)


def password_of(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _first_line(exc: BaseException) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else exc.__class__.__name__
