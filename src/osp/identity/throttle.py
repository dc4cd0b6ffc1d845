"""Login throttling per account and per client address, shared by every process via Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from osp.errors import Throttled
from osp.identity.models import LoginThrottle
from osp.identity.secrets import sha256_hex

WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20
MAX_MFA_FAILURES = 5


def account_key(tenant_id: object, email: str) -> str:
    return sha256_hex(f"account|{tenant_id}|{email}")


def mfa_key(user_id: object) -> str:
    return sha256_hex(f"mfa|{user_id}")


def address_key(address: str) -> str:
    return sha256_hex(f"address|{address}")


def check(session: Session, keys: list[str]) -> None:
    now = datetime.now(UTC)
    for row in session.execute(select(LoginThrottle).where(LoginThrottle.key_hash.in_(keys))
                               ).scalars():
        if row.locked_until and row.locked_until > now:
            raise Throttled("too many failed logins; try again later")


def record_failure(session: Session, key: str, limit: int) -> None:
    now = datetime.now(UTC)
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key_hash=key, failures=0, window_start=now)
        session.add(row)
    if now - row.window_start > WINDOW:
        row.failures, row.window_start = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + LOCK
    session.flush()


def clear(session: Session, key: str) -> None:
    row = session.get(LoginThrottle, key)
    if row is not None:
        session.delete(row)
