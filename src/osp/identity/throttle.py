"""Login throttling per account and per client address, shared by every process via Postgres.

An attempt is *reserved* before the password hash is verified: one atomic upsert counts it
and returns the new count, so N concurrent guesses get N distinct counts and only the first
``limit`` of them are verified at all. (Checking first and recording the failure after the
slow hash let 40 concurrent logins verify 20 passwords against a limit of 5.) The upsert
also means two first attempts on one key cannot collide on the primary key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from osp.errors import Throttled
from osp.identity.secrets import sha256_hex

WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20
MAX_MFA_FAILURES = 5
THROTTLED = "too many failed logins; try again later"

# The window restarts only when it is over and no lock is running.
_RESERVE = text("""
INSERT INTO login_throttle AS t (key_hash, failures, window_start, locked_until)
VALUES (:key, 1, :now, NULL)
ON CONFLICT (key_hash) DO UPDATE SET
    failures = CASE WHEN t.window_start <= :stale AND (t.locked_until IS NULL
                                                       OR t.locked_until <= :now)
                    THEN 1 ELSE t.failures + 1 END,
    window_start = CASE WHEN t.window_start <= :stale AND (t.locked_until IS NULL
                                                           OR t.locked_until <= :now)
                        THEN :now ELSE t.window_start END
RETURNING failures, locked_until
""")


class LoginThrottled(Throttled):
    """Too many sign-in attempts for this account or address."""


@dataclass(frozen=True)
class Reservation:
    key: str
    count: int  # this attempt's number within the window
    limit: int
    locked: bool  # a lock from earlier failures is still running

    @property
    def allowed(self) -> bool:
        return not self.locked and self.count <= self.limit


def account_key(tenant_id: object, email: str) -> str:
    return sha256_hex(f"account|{tenant_id}|{email}")


def mfa_key(user_id: object) -> str:
    return sha256_hex(f"mfa|{user_id}")


def address_key(address: str) -> str:
    return sha256_hex(f"address|{address}")


def reserve(session: Session, key: str, limit: int) -> Reservation:
    """Counts one attempt on ``key`` atomically (commit it before the slow verification)."""
    now = datetime.now(UTC)
    count, locked_until = session.execute(
        _RESERVE, {"key": key, "now": now, "stale": now - WINDOW}).one()
    return Reservation(key, int(count), limit, locked_until is not None and locked_until > now)


def lock_if_spent(session: Session, reservation: Reservation) -> None:
    """After a failed attempt: the key is locked once its attempts reach the limit."""
    if reservation.count >= reservation.limit:
        session.execute(text("UPDATE login_throttle SET locked_until = :until "
                             "WHERE key_hash = :key AND (locked_until IS NULL "
                             "OR locked_until < :until)"),
                        {"key": reservation.key, "until": datetime.now(UTC) + LOCK})


def refund(session: Session, key: str) -> None:
    """A successful attempt does not count against the key (an office behind one address)."""
    session.execute(text("UPDATE login_throttle SET failures = greatest(failures - 1, 0) "
                         "WHERE key_hash = :key"), {"key": key})


def check(session: Session, keys: list[str]) -> None:
    now = datetime.now(UTC)
    rows = session.execute(text("SELECT locked_until FROM login_throttle "
                                "WHERE key_hash = ANY(:keys)"), {"keys": keys}).scalars()
    if any(until is not None and until > now for until in rows):
        raise LoginThrottled(THROTTLED)


def record_failure(session: Session, key: str, limit: int) -> None:
    lock_if_spent(session, reserve(session, key, limit))


def clear(session: Session, key: str) -> None:
    session.execute(text("DELETE FROM login_throttle WHERE key_hash = :key"), {"key": key})
