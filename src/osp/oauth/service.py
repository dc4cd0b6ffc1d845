"""The OAuth broker: provider registrations, the code + PKCE flow, connections, revocation.

Token refresh and hand-out to the agent live in refresh.py; HTTP to providers in client.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import Conflict, InvalidInput, NotFound, OspError, Unauthorized
from osp.identity.secrets import same, sha256_hex
from osp.oauth import client as oauth_client
from osp.oauth.catalog import catalog_entry
from osp.oauth.client import ClientCredentials, ProviderError, ProviderUnavailable, TokenSet
from osp.oauth.egress import guarded_client
from osp.oauth.models import (
    ATTEMPT_TTL_SECONDS,
    PROVIDER_NAME_PATTERN,
    OAuthAttempt,
    OAuthConnection,
    OAuthProvider,
)
from osp.oauth.pkce import make_binding, make_nonce, make_state, make_verifier, parse_state
from osp.oauth.pkce import s256_challenge as challenge_of
from osp.oauth.store import SealedStore
from osp.tenancy.models import Tenant
from osp.vault.service import Vault

ATTEMPT_TTL = timedelta(seconds=ATTEMPT_TTL_SECONDS)
MAX_SCOPES = 50
# RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]{1,500}$")
_PROVIDER_NAME = re.compile(PROVIDER_NAME_PATTERN)
# Parameters the broker sets itself; catalog extras can never replace them.
_CORE_PARAMS = {"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                "code_challenge", "code_challenge_method"}


class CallbackRejected(OspError):
    """The callback failed a check (state, binding, redirect URI, iss) or the provider said no."""


@dataclass(frozen=True)
class ProviderInfo:
    name: str
    catalog_key: str | None
    issuer: str | None
    openid: bool
    pkce: bool
    revocation: str
    client_id: str
    redirect_uri: str
    created_at: datetime

    @classmethod
    def of(cls, p: OAuthProvider) -> ProviderInfo:
        return cls(p.name, p.catalog_key, p.issuer, p.openid, p.pkce, p.revocation_style,
                   p.client_id, p.redirect_uri, p.created_at)


@dataclass(frozen=True)
class ConnectStart:
    authorization_url: str
    expires_at: datetime
    # Set as a cookie on the browser that started the flow when bind_browser was asked for.
    binding: str | None


@dataclass(frozen=True)
class ConnectionInfo:
    id: uuid.UUID
    provider: str
    status: str
    status_reason: str | None
    requested_scopes: list[str]
    granted_scopes: list[str]
    access_expires_at: datetime | None
    last_refresh_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, c: OAuthConnection, provider: str) -> ConnectionInfo:
        return cls(c.id, provider, c.status, c.status_reason, list(c.requested_scopes),
                   list(c.granted_scopes), c.access_expires_at, c.last_refresh_at, c.created_at)


@dataclass(frozen=True)
class RevokeResult:
    provider: str
    connection_id: uuid.UUID
    at_provider: str  # "revoked" | "unsupported" | "failed: ..."
    manual_revoke_url: str | None


def validate_scopes(scopes: list[str]) -> list[str]:
    clean = list(dict.fromkeys(scopes))
    if len(clean) > MAX_SCOPES:
        raise InvalidInput(f"at most {MAX_SCOPES} scopes")
    for scope in clean:
        if not _SCOPE.fullmatch(scope):
            raise InvalidInput(f"invalid scope {scope[:60]!r}")
    return clean


def validate_redirect_uri(uri: str) -> str:
    # The broker never calls the redirect URI; a loopback one is fine (local console).
    oauth_client.check_endpoint(uri, "redirect URI", allow_loopback=True)
    if urlsplit(uri).query:
        # Compared exactly at the callback; a query would make "exact" ambiguous.
        raise InvalidInput("the redirect URI must not have a query")
    return uri


class OAuthBroker:
    def __init__(self, db: Database, vault: Vault, audit: AuditTrail, *,
                 http: httpx.Client | None = None,
                 refresh_ahead: timedelta = timedelta(minutes=5),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 allow_loopback: bool = False) -> None:
        self.db, self.audit = db, audit
        self.store = SealedStore(vault)
        # Every call to a tenant-chosen server goes through the guarded connector.
        self.http = http or guarded_client(allow_loopback=allow_loopback)
        self.refresh_ahead = refresh_ahead
        self.now = clock
        self.allow_loopback = allow_loopback

    def close(self) -> None:
        self.http.close()

    # -- provider registrations ------------------------------------------------------------
    def add_provider(self, tenant_id: uuid.UUID, name: str, *, client_id: str,
                     client_secret: str, redirect_uri: str, actor: str,
                     issuer: str | None = None, catalog_key: str | None = None) -> ProviderInfo:
        if not _PROVIDER_NAME.fullmatch(name or ""):
            raise InvalidInput("provider name: 2-40 lowercase letters, digits or '-'")
        if not client_id or len(client_id) > 500 or not client_id.isprintable():
            raise InvalidInput("client id must be 1-500 printable characters")
        if not client_secret or len(client_secret) > 4096:
            raise InvalidInput("client secret must be 1-4096 characters")
        if (issuer is None) == (catalog_key is None):
            raise InvalidInput("give exactly one of an issuer URL or a catalog key")
        validate_redirect_uri(redirect_uri)
        row = OAuthProvider(id=uuid.uuid4(), tenant_id=tenant_id, name=name,
                            client_id=client_id, redirect_uri=redirect_uri)
        if catalog_key is not None:
            entry = catalog_entry(catalog_key)
            row.catalog_key, row.issuer, row.openid = catalog_key, entry.issuer, entry.openid
            row.authorization_endpoint = entry.authorization_endpoint
            row.token_endpoint, row.jwks_uri = entry.token_endpoint, entry.jwks_uri
            row.revocation_endpoint = entry.revocation_endpoint
            row.revocation_style, row.pkce = entry.revocation_style, entry.pkce
            row.token_auth_method = entry.token_auth_method
            row.scope_separator = entry.scope_separator
            row.authorize_params = dict(entry.authorize_params)
            row.iss_parameter_supported = False
        else:
            meta = oauth_client.discover(self.http, issuer or "",
                                         allow_loopback=self.allow_loopback)
            row.issuer, row.openid, row.jwks_uri = meta.issuer, meta.openid, meta.jwks_uri
            row.authorization_endpoint = meta.authorization_endpoint
            row.token_endpoint = meta.token_endpoint
            row.revocation_endpoint = meta.revocation_endpoint
            row.revocation_style = "rfc7009" if meta.revocation_endpoint else "none"
            row.pkce, row.token_auth_method = True, meta.token_auth_method
            row.scope_separator, row.authorize_params = " ", {}
            row.iss_parameter_supported = meta.iss_parameter_supported
        try:
            with self.db.tenant(tenant_id) as s:
                s.add(row)
                s.flush()
                self.store.put(s, tenant_id, row.id, "client_secret", client_secret)
                self.audit.record(s, tenant_id, actor, "oauth.provider_added", {
                    "provider": name, "catalog_key": catalog_key, "issuer": row.issuer,
                    "client_id": client_id, "redirect_uri": redirect_uri})
        except IntegrityError:
            raise Conflict(f"provider {name!r} is already registered") from None
        return ProviderInfo.of(row)

    def list_providers(self, tenant_id: uuid.UUID) -> list[ProviderInfo]:
        with self.db.tenant(tenant_id) as s:
            rows = s.execute(select(OAuthProvider).order_by(OAuthProvider.name)).scalars()
            return [ProviderInfo.of(p) for p in rows]

    def _provider(self, s: Session, name: str) -> OAuthProvider:
        row = s.execute(select(OAuthProvider).where(OAuthProvider.name == name)
                        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"no provider named {name[:40]!r} is registered for this tenant")
        return row

    def credentials(self, s: Session, provider: OAuthProvider) -> ClientCredentials:
        return ClientCredentials(provider.client_id,
                                 self.store.get(s, provider.id, "client_secret"),
                                 provider.token_auth_method)

    # -- the authorization code flow -------------------------------------------------------
    def start(self, tenant_id: uuid.UUID, provider_name: str, *, actor: str,
              user_id: uuid.UUID | None = None, scopes: list[str] | None = None,
              integrations: list[str] | None = None, bind_browser: bool = False) -> ConnectStart:
        state, state_hash = make_state(tenant_id)
        verifier = make_verifier()
        binding, binding_hash = make_binding() if bind_browser else (None, None)
        now = self.now()
        with self.db.tenant(tenant_id) as s:
            provider = self._provider(s, provider_name)
            wanted = list(scopes or [])
            if integrations:
                if provider.catalog_key is None:
                    raise InvalidInput("integrations are only defined for catalog providers")
                wanted = catalog_entry(provider.catalog_key).scopes_for(integrations) + wanted
            elif provider.catalog_key is not None and not scopes:
                raise InvalidInput("name scopes or integrations to request")
            if provider.openid and "openid" not in wanted:
                wanted.insert(0, "openid")
            wanted = validate_scopes(wanted)
            nonce, nonce_hash = make_nonce() if "openid" in wanted else (None, None)
            attempt = OAuthAttempt(
                id=uuid.uuid4(), tenant_id=tenant_id, provider_id=provider.id,
                state_hash=state_hash, nonce_hash=nonce_hash, binding_hash=binding_hash,
                user_id=user_id, actor=actor, scopes=wanted, redirect_uri=provider.redirect_uri,
                created_at=now, expires_at=now + ATTEMPT_TTL)
            s.add(attempt)
            s.flush()
            self.store.put(s, tenant_id, attempt.id, "pkce_verifier", verifier)
            self.audit.record(s, tenant_id, actor, "oauth.connect_started", {
                "provider": provider.name, "attempt_id": str(attempt.id), "scopes": wanted})
            params = {k: v for k, v in provider.authorize_params.items() if k not in _CORE_PARAMS}
            params.update(response_type="code", client_id=provider.client_id,
                          redirect_uri=provider.redirect_uri,
                          scope=provider.scope_separator.join(wanted), state=state,
                          code_challenge=challenge_of(verifier), code_challenge_method="S256")
            if nonce:
                params["nonce"] = nonce
            endpoint = provider.authorization_endpoint
        url = endpoint + ("&" if urlsplit(endpoint).query else "?") + urlencode(params)
        return ConnectStart(url, attempt.expires_at, binding)

    def complete(self, callback_url: str, *, binding: str | None = None) -> ConnectionInfo:
        """Finishes an attempt from the full URL the provider redirected the browser to."""
        parts = urlsplit(callback_url)
        arrived_at = f"{parts.scheme}://{parts.netloc}{parts.path}"
        query = parse_qs(parts.query, keep_blank_values=True)
        # RFC 6749 §3.1: a parameter sent twice makes the request invalid, not "take the first".
        if any(len(v) != 1 for v in query.values()):
            raise CallbackRejected("a callback parameter appears more than once")
        params = {k: v[0] for k, v in query.items()}
        try:
            tenant_id, state_hash = parse_state(params.get("state", ""))
        except Unauthorized:
            raise CallbackRejected("missing or malformed state") from None
        attempt, verifier, provider = self._consume(tenant_id, state_hash)
        ctx = {"provider": provider.name, "attempt_id": str(attempt.id)}
        if attempt.expires_at <= self.now():
            self._reject(attempt, ctx, "attempt expired (older than 10 minutes)")
        # Binds the flow to the browser that started it (RFC 6749 §10.12): a victim lured
        # onto an attacker's callback URL carries no matching cookie.
        if attempt.binding_hash is not None and not (
                binding and same(sha256_hex(binding), attempt.binding_hash)):
            self._reject(attempt, ctx, "this browser did not start the connection")
        if arrived_at != attempt.redirect_uri:
            self._reject(attempt, ctx, "callback arrived at a different redirect URI")
        self._check_iss(attempt, provider, params.get("iss"), ctx)
        if "error" in params:
            err = ProviderError(params["error"], params.get("error_description", ""))
            self._reject(attempt, {**ctx, "error": err.error, "description": err.description},
                         f"the provider ended the attempt: {err.error}")
        code = params.get("code", "")
        if not code or len(code) > 2048:
            self._reject(attempt, ctx, "the callback has no authorization code")
        try:
            tokens, subject = self._exchange(provider, attempt, code, verifier)
        except (ProviderError, ProviderUnavailable) as exc:
            details = {**ctx, "error": getattr(exc, "error", "unavailable")}
            self._reject(attempt, details, f"code exchange failed: {exc.message}")
        return self._save_connection(attempt, provider, tokens, subject)

    def _consume(self, tenant_id: uuid.UUID, state_hash: str
                 ) -> tuple[OAuthAttempt, str, OAuthProvider]:
        # Single use: the attempt is deleted and committed before any other check runs,
        # so a replayed or failed callback can never be tried a second time.
        with self.db.tenant(tenant_id) as s:
            attempt = s.execute(delete(OAuthAttempt).where(OAuthAttempt.state_hash == state_hash)
                                .returning(OAuthAttempt)).scalar_one_or_none()
            if attempt is None:
                if s.get(Tenant, tenant_id) is not None:
                    self.audit.record(s, tenant_id, "oauth:callback", "oauth.callback_rejected",
                                      {"reason": "unknown, used or expired state"})
            else:
                verifier = self.store.find(s, attempt.id, "pkce_verifier")
                self.store.delete(s, attempt.id)
                provider = s.get(OAuthProvider, attempt.provider_id)
        if attempt is None or verifier is None or provider is None:
            raise CallbackRejected("unknown, already used or expired state")
        return attempt, verifier, provider

    def _reject(self, attempt: OAuthAttempt, details: dict[str, Any], reason: str) -> NoReturn:
        with self.db.tenant(attempt.tenant_id) as s:
            self.audit.record(s, attempt.tenant_id, attempt.actor, "oauth.connect_failed",
                              {**details, "reason": reason})
        raise CallbackRejected(reason)

    def _check_iss(self, attempt: OAuthAttempt, provider: OAuthProvider, iss: str | None,
                   ctx: dict[str, Any]) -> None:
        # RFC 9207 (mix-up defence): a server that advertises `iss` must send it, and a sent
        # `iss` must be the registered issuer. One we cannot compare is refused (fail closed).
        if iss is None:
            if provider.iss_parameter_supported:
                self._reject(attempt, ctx, "the provider advertises iss but sent none")
            return
        if provider.issuer is None or iss != provider.issuer:
            self._reject(attempt, ctx, "iss does not match the registered issuer")

    def _exchange(self, provider: OAuthProvider, attempt: OAuthAttempt, code: str,
                  verifier: str) -> tuple[TokenSet, str | None]:
        with self.db.tenant(attempt.tenant_id) as s:
            creds = self.credentials(s, provider)
        tokens = oauth_client.token_request(self.http, provider.token_endpoint, creds, {
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": attempt.redirect_uri, "code_verifier": verifier,
        }, provider.scope_separator)
        subject = None
        if "openid" in attempt.scopes and provider.openid:
            if tokens.id_token is None or provider.jwks_uri is None:
                raise ProviderError("invalid_response", "no ID token for an OpenID request")
            claims = oauth_client.verify_id_token(
                self.http, tokens.id_token, jwks_uri=provider.jwks_uri, issuer=provider.issuer,
                client_id=provider.client_id, nonce_hash=attempt.nonce_hash)
            subject = str(claims["sub"])[:255]
        return tokens, subject

    def _save_connection(self, attempt: OAuthAttempt, provider: OAuthProvider,
                         tokens: TokenSet, subject: str | None) -> ConnectionInfo:
        now = self.now()
        # RFC 6749 §5.1: no scope in the answer means exactly the requested scopes.
        granted = tokens.scope if tokens.scope is not None else sorted(attempt.scopes)
        with self.db.tenant(attempt.tenant_id) as s:
            conn = s.execute(select(OAuthConnection).where(
                OAuthConnection.provider_id == provider.id,
                OAuthConnection.status != "revoked").with_for_update()).scalar_one_or_none()
            if conn is None:
                conn = OAuthConnection(id=uuid.uuid4(), tenant_id=attempt.tenant_id,
                                       provider_id=provider.id, created_at=now)
                s.add(conn)
            # A reconnect that signs in as another account is allowed, but said out loud.
            subject_changed = conn.subject is not None and conn.subject != subject
            conn.user_id, conn.subject = attempt.user_id, subject
            conn.requested_scopes, conn.granted_scopes = list(attempt.scopes), granted
            conn.status, conn.status_reason, conn.updated_at = "active", None, now
            conn.access_expires_at = (now + timedelta(seconds=tokens.expires_in)
                                      if tokens.expires_in else None)
            conn.has_refresh_token = tokens.refresh_token is not None
            s.flush()
            self.store.put(s, attempt.tenant_id, conn.id, "access", tokens.access_token)
            if tokens.refresh_token:
                self.store.put(s, attempt.tenant_id, conn.id, "refresh", tokens.refresh_token)
            else:
                self.store.delete(s, conn.id, "refresh")
            self.audit.record(s, attempt.tenant_id, attempt.actor, "oauth.connected", {
                "provider": provider.name, "connection_id": str(conn.id),
                "requested_scopes": list(attempt.scopes), "granted_scopes": granted,
                "refreshable": conn.has_refresh_token, "subject_changed": subject_changed})
            return ConnectionInfo.of(conn, provider.name)

    # -- connections -----------------------------------------------------------------------
    def list_connections(self, tenant_id: uuid.UUID, *, include_revoked: bool = False
                         ) -> list[ConnectionInfo]:
        with self.db.tenant(tenant_id) as s:
            stmt = (select(OAuthConnection, OAuthProvider.name)
                    .join(OAuthProvider, OAuthProvider.id == OAuthConnection.provider_id)
                    .order_by(OAuthProvider.name, OAuthConnection.created_at))
            if not include_revoked:
                stmt = stmt.where(OAuthConnection.status != "revoked")
            return [ConnectionInfo.of(c, name) for c, name in s.execute(stmt).all()]

    def revoke(self, tenant_id: uuid.UUID, provider_name: str, actor: str) -> RevokeResult:
        """Revokes at the provider where it can, then deletes the tokens whatever it said."""
        with self.db.tenant(tenant_id) as s:
            provider = self._provider(s, provider_name)
            # The row lock keeps a concurrent refresh from rotating the token mid-revocation.
            conn = s.execute(select(OAuthConnection).where(
                OAuthConnection.provider_id == provider.id,
                OAuthConnection.status != "revoked").with_for_update()).scalar_one_or_none()
            if conn is None:
                raise NotFound(f"tenant has no live connection to {provider_name[:40]!r}")
            outcome = self._revoke_at_provider(s, provider, conn)
            self.store.delete(s, conn.id, "access", "refresh")
            conn.status, conn.status_reason = "revoked", f"revoked by {actor[:100]}"
            conn.has_refresh_token, conn.updated_at = False, self.now()
            self.audit.record(s, tenant_id, actor, "oauth.revoked", {
                "provider": provider.name, "connection_id": str(conn.id),
                "at_provider": outcome})
            manual = (catalog_entry(provider.catalog_key).manual_revoke_url
                      if provider.catalog_key else None)
            return RevokeResult(provider.name, conn.id, outcome, manual)

    def _revoke_at_provider(self, s: Session, provider: OAuthProvider,
                            conn: OAuthConnection) -> str:
        if provider.revocation_style == "none" or provider.revocation_endpoint is None:
            return "unsupported"
        creds = self.credentials(s, provider)
        refresh = self.store.find(s, conn.id, "refresh")
        access = self.store.find(s, conn.id, "access")
        try:
            if provider.revocation_style == "rfc7009":
                # Revoking the refresh token ends the grant at most servers (RFC 7009 §2.1);
                # the access token is revoked too for those that keep them apart.
                for token, hint in ((refresh, "refresh_token"), (access, "access_token")):
                    if token:
                        oauth_client.revoke(self.http, "rfc7009", provider.revocation_endpoint,
                                            creds, token, hint)
            elif access:
                oauth_client.revoke(self.http, provider.revocation_style,
                                    provider.revocation_endpoint, creds, access, "access_token")
        except (ProviderError, ProviderUnavailable) as exc:
            return f"failed: {exc.message}"[:200]
        return "revoked"
