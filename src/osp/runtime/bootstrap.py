"""Single-use bootstrap tokens: how a fresh container proves who it is, once, to get secrets.

A token is 256 random bits, handed to exactly one container instance, stored only as a
SHA-256 hash (a token of that entropy needs no slow hash: nothing to brute-force), bound to
(tenant, instance), valid for at most 60 seconds and consumed by its first presentation
whatever the outcome. Every refusal is audited with its reason; the caller only ever learns
"refused".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

TOKEN_BYTES = 32  # 256 bits
MAX_TTL = timedelta(seconds=60)

AuditSink = Callable[[str | None, str, Mapping[str, object]], None]
SecretSource = Callable[[str], Mapping[str, str]]  # tenant -> {name: value}
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    token_hash: str
    tenant: str
    instance_id: str
    expires_at: datetime
    used_at: datetime | None = None


class TokenStore(Protocol):
    def add(self, record: TokenRecord) -> None: ...

    def consume(self, token_hash: str, tenant: str, now: datetime) -> TokenRecord | None:
        """Atomically mark the token used; return the record as it was before.

        Only ``tenant``'s tokens are visible (in Postgres, RLS enforces it): a token
        presented under another tenant's name is simply unknown there.
        """

    def revoke_instance(self, tenant: str, instance_id: str, now: datetime) -> None: ...


class MemoryTokenStore:
    """In-process store (tests, single-process tools). Postgres store: ``service.py``."""

    def __init__(self) -> None:
        self._rows: dict[str, TokenRecord] = {}
        self._lock = threading.Lock()

    def add(self, record: TokenRecord) -> None:
        with self._lock:
            self._rows[record.token_hash] = record

    def consume(self, token_hash: str, tenant: str, now: datetime) -> TokenRecord | None:
        with self._lock:
            row = self._rows.get(token_hash)
            if row is None or row.tenant != tenant:
                return None
            if row.used_at is None:
                self._rows[token_hash] = replace(row, used_at=now)
            return row

    def revoke_instance(self, tenant: str, instance_id: str, now: datetime) -> None:
        with self._lock:
            for key, row in self._rows.items():
                if row.tenant == tenant and row.instance_id == instance_id and not row.used_at:
                    self._rows[key] = replace(row, used_at=now)


class ExchangeRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ExchangeResult:
    tenant: str
    instance_id: str
    secrets: Mapping[str, str]
    status_key: str
    agent_key: str
    memory_key: str


def status_key(runtime_key: bytes, instance_id: str) -> str:
    """Key the control plane presents to an agent's /status; derived, so never stored."""
    return hmac.new(runtime_key, f"status:{instance_id}".encode(), hashlib.sha256).hexdigest()


def agent_key(runtime_key: bytes, tenant: str, instance_id: str) -> str:
    """Key an agent presents to the internal API after boot (the other direction from
    :func:`status_key`, so neither side can replay what the other one sends). Bound to the
    tenant and the instance: a restart makes the old instance's key worthless."""
    return hmac.new(runtime_key, f"agent:{tenant}:{instance_id}".encode(),
                    hashlib.sha256).hexdigest()


def memory_key(runtime_key: bytes, tenant: str) -> str:
    """The key the tenant's agent seals its memory (conversations, notes) with on its volume.

    Derived, so it is never stored, and the same for every instance of the tenant: a restart
    or an image upgrade still reads what the previous instance wrote. A tenant's name is
    unique while the tenant exists and its volume is deleted with it, so a later tenant of
    the same name finds nothing to open."""
    return hmac.new(runtime_key, f"memory:{tenant}".encode(), hashlib.sha256).hexdigest()


class BootstrapService:
    def __init__(
        self,
        store: TokenStore,
        secret_source: SecretSource,
        audit: AuditSink,
        runtime_key: bytes,
        ttl: timedelta = MAX_TTL,
        clock: Clock = utcnow,
    ) -> None:
        if ttl > MAX_TTL or ttl <= timedelta(0):
            raise ValueError("bootstrap token lifetime must be within (0, 60] seconds")
        if len(runtime_key) < 32:
            raise ValueError("runtime key must be at least 32 bytes")
        self.store = store
        self.secret_source = secret_source
        self.audit = audit
        self.runtime_key = runtime_key
        self.ttl = ttl
        self.clock = clock

    def issue(self, tenant: str, instance_id: str) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.store.add(TokenRecord(hash_token(token), tenant, instance_id,
                                   self.clock() + self.ttl))
        return token

    def status_key(self, instance_id: str) -> str:
        return status_key(self.runtime_key, instance_id)

    def agent_key(self, tenant: str, instance_id: str) -> str:
        return agent_key(self.runtime_key, tenant, instance_id)

    def revoke(self, tenant: str, instance_id: str) -> None:
        self.store.revoke_instance(tenant, instance_id, self.clock())

    def _refuse(self, tenant: str | None, reason: str, **details: object) -> ExchangeRefused:
        self.audit(tenant, "runtime.bootstrap.refused", {"reason": reason, **details})
        return ExchangeRefused(reason)

    def exchange(self, token: str, tenant: str, instance_id: str,
                 peer_ok: Callable[[str], bool] | None = None) -> ExchangeResult:
        """Trade a token for the tenant's secrets, once.

        ``peer_ok(tenant)`` lets the transport add a network-level binding (the request
        must come from that tenant's container address). Any misuse burns the token.
        """
        now = self.clock()
        # Until a token is found in the claimed tenant's own store, the request proved no
        # tenant: its refusal goes to the platform trail (tenant None), never the named one.
        if not token:
            raise self._refuse(None, "missing_token", claimed_tenant=tenant[:64])
        row = self.store.consume(hash_token(token), tenant, now)
        if row is None:
            # Unknown here: never issued, or issued to another tenant (RLS hides it).
            raise self._refuse(None, "unknown_token", claimed_tenant=tenant[:64],
                               claimed_instance=instance_id)
        if row.used_at is not None:
            raise self._refuse(row.tenant, "replay", instance_id=row.instance_id)
        if now >= row.expires_at:
            raise self._refuse(row.tenant, "expired", instance_id=row.instance_id)
        if not hmac.compare_digest(row.instance_id, instance_id):
            raise self._refuse(row.tenant, "wrong_instance", instance_id=row.instance_id,
                               claimed_instance=instance_id)
        if peer_ok is not None and not peer_ok(row.tenant):
            raise self._refuse(row.tenant, "wrong_peer", instance_id=row.instance_id)
        values = dict(self.secret_source(row.tenant))
        # Names only: values never reach the audit trail or a log.
        self.audit(row.tenant, "runtime.bootstrap.exchanged",
                   {"instance_id": row.instance_id, "names": sorted(values)})
        return ExchangeResult(row.tenant, row.instance_id, values,
                              self.status_key(row.instance_id),
                              self.agent_key(row.tenant, row.instance_id),
                              memory_key(self.runtime_key, row.tenant))
