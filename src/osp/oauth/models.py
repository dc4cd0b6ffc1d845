"""OAuth tables. Every one carries tenant_id and sits under the RLS rule (0003_oauth).

No column holds a token, a client secret or a PKCE verifier in the clear: those live in
``oauth_secrets`` as vault-sealed blobs (ciphertext + wrapped data key).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    CHAR,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from osp.db.base import Base, new_id, utcnow

PROVIDER_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
STATUSES = ("active", "needs_reauth", "revoked")
SECRET_KINDS = ("client_secret", "access", "refresh", "pkce_verifier")
ATTEMPT_TTL_SECONDS = 600


class OAuthProvider(Base):
    """An operator's client registration at one authorization server, for one tenant."""

    __tablename__ = "oauth_providers"
    __table_args__ = (
        CheckConstraint(f"name ~ '{PROVIDER_NAME_PATTERN}'", name="name_format"),
        CheckConstraint("revocation_style IN ('rfc7009', 'bearer', 'github', 'none')",
                        name="revocation_style_known"),
        CheckConstraint("token_auth_method IN ('client_secret_basic', 'client_secret_post')",
                        name="token_auth_method_known"),
        UniqueConstraint("tenant_id", "name", name="uq_oauth_providers_tenant_id_name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    catalog_key: Mapped[str | None] = mapped_column(String(40))
    issuer: Mapped[str | None] = mapped_column(String(2000))
    authorization_endpoint: Mapped[str] = mapped_column(String(2000))
    token_endpoint: Mapped[str] = mapped_column(String(2000))
    revocation_endpoint: Mapped[str | None] = mapped_column(String(2000))
    revocation_style: Mapped[str] = mapped_column(String(16))
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    openid: Mapped[bool] = mapped_column(Boolean)
    iss_parameter_supported: Mapped[bool] = mapped_column(Boolean)
    pkce: Mapped[bool] = mapped_column(Boolean)
    token_auth_method: Mapped[str] = mapped_column(String(24))
    scope_separator: Mapped[str] = mapped_column(String(1))
    authorize_params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    client_id: Mapped[str] = mapped_column(String(500))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OAuthAttempt(Base):
    """One pending authorization: consumed (deleted) by the first callback that names it."""

    __tablename__ = "oauth_attempts"
    __table_args__ = (
        CheckConstraint(f"expires_at <= created_at + interval '{ATTEMPT_TTL_SECONDS} seconds'",
                        name="ttl_at_most_10_min"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("oauth_providers.id", ondelete="CASCADE"))
    # Only hashes: a database reader cannot complete somebody else's flow.
    state_hash: Mapped[str] = mapped_column(CHAR(64), unique=True)
    nonce_hash: Mapped[str | None] = mapped_column(CHAR(64))
    binding_hash: Mapped[str | None] = mapped_column(CHAR(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(500)))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class OAuthConnection(Base):
    """A tenant's grant at one provider. At most one that is not revoked per provider."""

    __tablename__ = "oauth_connections"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'needs_reauth', 'revoked')", name="status_known"),
        # At most one live grant per provider; revoked ones are kept for the record.
        Index("uq_oauth_connections_live", "tenant_id", "provider_id", unique=True,
              postgresql_where=text("status <> 'revoked'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("oauth_providers.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"))
    subject: Mapped[str | None] = mapped_column(String(255))
    requested_scopes: Mapped[list[str]] = mapped_column(ARRAY(String(500)))
    granted_scopes: Mapped[list[str]] = mapped_column(ARRAY(String(500)))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(500))
    access_expires_at: Mapped[datetime | None]
    has_refresh_token: Mapped[bool] = mapped_column(Boolean, default=False)
    last_refresh_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OAuthSecret(Base):
    """One sealed value (token, client secret or PKCE verifier) owned by a provider,
    connection or attempt row. The AAD binds tenant, owner, kind and version."""

    __tablename__ = "oauth_secrets"
    __table_args__ = (
        CheckConstraint("kind IN ('client_secret', 'access', 'refresh', 'pkce_verifier')",
                        name="kind_known"),
        CheckConstraint("octet_length(nonce) = 12", name="nonce_len"),
        UniqueConstraint("owner_id", "kind", name="uq_oauth_secrets_owner_id_kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    kek_version: Mapped[str] = mapped_column(String(64))
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
