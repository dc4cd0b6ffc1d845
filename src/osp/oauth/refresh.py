"""Access tokens for the agent, refresh-ahead, rotation, and the background refresh job.

One refresh at a time per connection, across processes: the connection row is locked
(``SELECT ... FOR UPDATE``) for the whole refresh, HTTP call included, so a second caller
waits and then finds the fresh token instead of spending the (possibly rotated) refresh
token a second time, which rotating servers treat as token theft.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from osp.errors import Conflict, Forbidden, NotFound
from osp.logs import get_logger
from osp.oauth import client as oauth_client
from osp.oauth.client import ProviderError, ProviderUnavailable
from osp.oauth.models import OAuthAttempt, OAuthConnection, OAuthProvider, OAuthSecret
from osp.oauth.service import OAuthBroker

log = get_logger("osp.oauth")


class NeedsReauth(Conflict):
    """The grant is gone at the provider (invalid_grant): the person must connect again."""


@dataclass(frozen=True, repr=False)
class AccessGrant:
    connection_id: uuid.UUID
    provider: str
    scope: str
    access_token: str
    expires_at: datetime | None

    def __repr__(self) -> str:
        return f"AccessGrant({self.provider}, scope={self.scope!r}, expires_at={self.expires_at})"


@dataclass
class JobReport:
    refreshed: int = 0
    needs_reauth: int = 0
    failed: int = 0
    attempts_purged: int = 0
    errors: list[str] = field(default_factory=list)


def _due(broker: OAuthBroker, conn: OAuthConnection) -> bool:
    if conn.access_expires_at is None:
        return False
    ahead = broker.refresh_ahead
    if conn.last_refresh_at is not None:
        # A token living shorter than the refresh-ahead window would otherwise be "due" the
        # moment it was issued, and every use (every process) would refresh it again.
        ahead = min(ahead, (conn.access_expires_at - conn.last_refresh_at) / 2)
    return conn.access_expires_at <= broker.now() + ahead


def _refresh_locked(broker: OAuthBroker, s: Session, conn: OAuthConnection,
                    provider: OAuthProvider, actor: str) -> str | None:
    """Refreshes a row the caller holds locked. Returns None when the grant is gone
    (status set to needs_reauth, audited); raises ProviderError/Unavailable otherwise."""
    refresh_token = broker.store.find(s, conn.id, "refresh")
    if refresh_token is None:
        _mark_reauth(broker, s, conn, provider, actor, "no refresh token and the access "
                                                          "token expired or was refused")
        return None
    try:
        tokens = oauth_client.token_request(
            broker.http, provider.token_endpoint, broker.credentials(s, provider),
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            provider.scope_separator)
    except ProviderError as exc:
        if exc.error == "invalid_grant":
            _mark_reauth(broker, s, conn, provider, actor, "the provider refused the refresh "
                                                              "token (invalid_grant)")
            return None
        broker.audit.record(s, conn.tenant_id, actor, "oauth.refresh_failed", {
            "provider": provider.name, "connection_id": str(conn.id), "error": exc.error})
        raise
    now = broker.now()
    broker.store.put(s, conn.tenant_id, conn.id, "access", tokens.access_token)
    rotated = tokens.refresh_token is not None and tokens.refresh_token != refresh_token
    if rotated and tokens.refresh_token:
        # Rotation: the old refresh token is now spent; only the new one is kept.
        broker.store.put(s, conn.tenant_id, conn.id, "refresh", tokens.refresh_token)
    conn.access_expires_at = now + timedelta(seconds=tokens.expires_in) if tokens.expires_in \
        else None
    if tokens.scope is not None:
        conn.granted_scopes = tokens.scope
    conn.last_refresh_at = conn.updated_at = now
    broker.audit.record(s, conn.tenant_id, actor, "oauth.refreshed", {
        "provider": provider.name, "connection_id": str(conn.id), "rotated": rotated})
    log.info("oauth_refreshed", connection_id=str(conn.id), provider=provider.name,
             rotated=rotated)
    return tokens.access_token


def _mark_reauth(broker: OAuthBroker, s: Session, conn: OAuthConnection,
                 provider: OAuthProvider, actor: str, reason: str) -> None:
    broker.store.delete(s, conn.id, "access", "refresh")
    conn.status, conn.status_reason = "needs_reauth", reason
    conn.has_refresh_token, conn.updated_at = False, broker.now()
    broker.audit.record(s, conn.tenant_id, actor, "oauth.needs_reauth", {
        "provider": provider.name, "connection_id": str(conn.id), "reason": reason})
    log.warning("oauth_needs_reauth", connection_id=str(conn.id), provider=provider.name)


def access_token(broker: OAuthBroker, tenant_id: uuid.UUID, connection_id: uuid.UUID,
                 scope: str, actor: str, *, force_refresh: bool = False) -> AccessGrant:
    """A current access token for one connection and one granted scope (for the agent).

    ``force_refresh`` is for a token the API just refused (revoked at the provider side):
    the refresh then either yields a fresh token or marks the connection needs_reauth.
    The refresh token itself never leaves this function's process.
    """
    gone = False
    with broker.db.tenant(tenant_id) as s:
        conn = s.get(OAuthConnection, connection_id)
        if conn is None or conn.status == "revoked":
            raise NotFound("no such connection")
        if conn.status != "active":
            raise NeedsReauth("the connection needs the person to connect again")
        # Least privilege: the caller names the scope it needs, and only a granted one passes.
        if scope not in conn.granted_scopes:
            raise Forbidden(f"scope {scope[:80]!r} was not granted on this connection")
        provider = s.get(OAuthProvider, conn.provider_id)
        if provider is None:
            raise NotFound("no such connection")
        observed = conn.access_expires_at, conn.last_refresh_at
        token: str | None = None
        if force_refresh or _due(broker, conn):
            s.refresh(conn, with_for_update=True)
            # Someone else refreshed while we waited for the lock: use their token.
            already = (conn.access_expires_at, conn.last_refresh_at) != observed
            if conn.status != "active":
                gone = True
            elif not already:
                token = _refresh_locked(broker, s, conn, provider, actor)
                gone = token is None
        if not gone:
            token = token or broker.store.get(s, conn.id, "access")
            broker.audit.record(s, tenant_id, actor, "oauth.token_issued", {
                "provider": provider.name, "connection_id": str(conn.id), "scope": scope})
        expires = conn.access_expires_at
    if gone or token is None:
        raise NeedsReauth("the provider no longer honours this grant; connect again")
    return AccessGrant(connection_id, provider.name, scope, token, expires)


def refresh_due(broker: OAuthBroker, tenant_ids: Iterable[uuid.UUID],
                actor: str = "oauth:refresh-job") -> JobReport:
    """One pass of the background job: refresh what expires within refresh_ahead, purge
    attempts past their ten minutes. Rows another process holds are skipped, not awaited."""
    report = JobReport()
    for tenant_id in tenant_ids:
        with broker.db.tenant(tenant_id) as s:
            expired = list(s.execute(delete(OAuthAttempt)
                                     .where(OAuthAttempt.expires_at <= broker.now())
                                     .returning(OAuthAttempt.id)).scalars())
            if expired:
                s.execute(delete(OAuthSecret).where(OAuthSecret.owner_id.in_(expired)))
            report.attempts_purged += len(expired)
            ids = list(s.execute(select(OAuthConnection.id).where(
                OAuthConnection.status == "active", OAuthConnection.has_refresh_token,
                OAuthConnection.access_expires_at <= broker.now() + broker.refresh_ahead,
            )).scalars())
        for connection_id in ids:
            _refresh_one(broker, tenant_id, connection_id, actor, report)
    return report


def _refresh_one(broker: OAuthBroker, tenant_id: uuid.UUID, connection_id: uuid.UUID,
                 actor: str, report: JobReport) -> None:
    try:
        with broker.db.tenant(tenant_id) as s:
            conn = s.execute(select(OAuthConnection).where(OAuthConnection.id == connection_id)
                             .with_for_update(skip_locked=True)).scalar_one_or_none()
            if conn is None or conn.status != "active" or not _due(broker, conn):
                return
            provider = s.get(OAuthProvider, conn.provider_id)
            if provider is None:
                return
            if _refresh_locked(broker, s, conn, provider, actor) is None:
                report.needs_reauth += 1
            else:
                report.refreshed += 1
    except (ProviderError, ProviderUnavailable) as exc:
        report.failed += 1
        report.errors.append(f"{connection_id}: {exc.message}"[:200])
        log.warning("oauth_refresh_failed", connection_id=str(connection_id),
                    error=exc.message[:200])


class BrokerTokens:
    """The control plane's TokenSource (the agent's goes through the internal API)."""

    def __init__(self, broker: OAuthBroker, tenant_id: uuid.UUID, actor: str) -> None:
        self.broker, self.tenant_id, self.actor = broker, tenant_id, actor

    def token(self, connection_id: uuid.UUID, scope: str, *, force_refresh: bool = False) -> str:
        return access_token(self.broker, self.tenant_id, connection_id, scope, self.actor,
                            force_refresh=force_refresh).access_token
