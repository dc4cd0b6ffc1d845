"""Is the database at the code's migration heads? One query, no alembic import.

Every CLI command opens the installation; running the alembic migrator each time (importing
alembic, loading every revision module, a transaction per head) cost more than the command.
``ensure_current`` reads ``alembic_version`` once and migrates only when the database is
behind; a database *ahead* of the code (written by a newer osp) is refused with one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError
from sqlalchemy.pool import NullPool

VERSIONS = Path(__file__).parent / "migrations" / "versions"

_REVISION = re.compile(r'^revision\s*=\s*"([^"]+)"', re.MULTILINE)
_PARENTS = re.compile(r"^(?:down_revision|depends_on)\s*=\s*(.+)$", re.MULTILINE)
_NAME = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class Revisions:
    parents: dict[str, frozenset[str]]  # revision -> its down_revision(s) and depends_on

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self.parents)

    @property
    def stamp(self) -> frozenset[str]:
        """What ``alembic_version`` holds once every revision ran: the revisions nothing
        else builds on or depends on."""
        return self.known - {p for ps in self.parents.values() for p in ps}

    def applied(self, stamped: frozenset[str]) -> frozenset[str]:
        """Every revision a database stamped with ``stamped`` has run. alembic leaves a
        revision out of ``alembic_version`` once a later one depends on it (0008 on
        0002_runtime), so the stamp alone is not the heads."""
        seen: set[str] = set()
        todo = list(stamped)
        while todo:
            rev = todo.pop()
            if rev not in seen:
                seen.add(rev)
                todo.extend(self.parents.get(rev, ()))
        return frozenset(seen)


@cache
def code_revisions(versions: Path = VERSIONS) -> Revisions:
    """Read ``revision``, ``down_revision`` and ``depends_on`` from the revision files (a
    test checks the result against alembic's own view of the script directory)."""
    parents: dict[str, frozenset[str]] = {}
    for path in sorted(versions.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        rev = _REVISION.search(source)
        if rev is not None:
            parents[rev.group(1)] = frozenset(
                name for line in _PARENTS.findall(source) for name in _NAME.findall(line))
    return Revisions(parents)


class SchemaAhead(Exception):
    """The database carries revisions this code does not know: a newer osp migrated it."""


def database_revisions(admin_url: str) -> frozenset[str] | None:
    """The stamped revisions, or None for a database never migrated."""
    from osp.db.session import to_sqlalchemy_url

    engine = create_engine(to_sqlalchemy_url(admin_url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            try:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                return frozenset(rows)
            except ProgrammingError:  # no alembic_version table yet: a fresh database
                return None
    finally:
        engine.dispose()


def at_heads(stamped: frozenset[str] | None, code: Revisions) -> bool:
    """True when the database is exactly at the code's heads, False when it is behind;
    raises SchemaAhead when it has revisions the code does not ship."""
    if stamped is None:
        return False
    unknown = stamped - code.known
    if unknown:
        raise SchemaAhead(
            f"the database is at migration {', '.join(sorted(unknown))}, which this osp does "
            f"not know (it ships up to {', '.join(sorted(code.stamp))}): it was migrated by a "
            "newer osp; run that version or restore a backup")
    return code.applied(stamped) == code.known


def ensure_current(admin_url: str, app_password: str | None = None) -> bool:
    """Migrate only when the database is behind the code. True when it migrated.

    Concurrent openers are safe: ``migrate`` takes an advisory lock and alembic skips the
    revisions another opener applied meanwhile.
    """
    from osp.db.roles import DatabaseSetupError, migrate

    try:
        stamped = database_revisions(admin_url)
    except SQLAlchemyError as exc:
        raise DatabaseSetupError(f"cannot read the schema version: {_first_line(exc)}") \
            from None
    try:
        if at_heads(stamped, code_revisions()):
            return False
    except SchemaAhead as exc:
        raise DatabaseSetupError(str(exc)) from None
    migrate(admin_url, app_password)
    return True


def _first_line(exc: BaseException) -> str:
    msg = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return msg[0] if msg else exc.__class__.__name__
