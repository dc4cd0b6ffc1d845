"""OAuth broker: provider registrations, pending attempts, connections, sealed secrets.

Every table is tenant data under the RLS rule. Provider registrations are per tenant (not
platform-wide): each tenant can bring its own client at a provider, a tenant context can
never read another tenant's client secret, and no table needs a policy that is looser
than ``tenant_id = app.tenant_id``.

Revision ID: 0003_oauth
Revises: 0001_core
"""

from __future__ import annotations

from alembic import op

from osp.db.rls import tenant_table_ddl

revision = "0003_oauth"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE oauth_providers (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name varchar(40) NOT NULL
        CONSTRAINT ck_oauth_providers_name_format CHECK (name ~ '^[a-z][a-z0-9-]{0,38}[a-z0-9]$'),
    catalog_key varchar(40),
    issuer varchar(2000),
    authorization_endpoint varchar(2000) NOT NULL,
    token_endpoint varchar(2000) NOT NULL,
    revocation_endpoint varchar(2000),
    revocation_style varchar(16) NOT NULL
        CONSTRAINT ck_oauth_providers_revocation_style_known
        CHECK (revocation_style IN ('rfc7009', 'bearer', 'github', 'none')),
    jwks_uri varchar(2000),
    openid boolean NOT NULL,
    iss_parameter_supported boolean NOT NULL,
    pkce boolean NOT NULL,
    token_auth_method varchar(24) NOT NULL
        CONSTRAINT ck_oauth_providers_token_auth_method_known
        CHECK (token_auth_method IN ('client_secret_basic', 'client_secret_post')),
    scope_separator varchar(1) NOT NULL,
    authorize_params jsonb NOT NULL,
    client_id varchar(500) NOT NULL,
    redirect_uri varchar(2000) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_oauth_providers_tenant_id_name UNIQUE (tenant_id, name),
    -- An OpenID provider without keys could not have its ID tokens checked.
    CONSTRAINT ck_oauth_providers_openid_has_keys CHECK (NOT openid OR jwks_uri IS NOT NULL)
);
CREATE INDEX ix_oauth_providers_tenant_id ON oauth_providers (tenant_id);

CREATE TABLE oauth_attempts (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    provider_id uuid NOT NULL REFERENCES oauth_providers(id) ON DELETE CASCADE,
    state_hash char(64) NOT NULL CONSTRAINT uq_oauth_attempts_state_hash UNIQUE,
    nonce_hash char(64),
    binding_hash char(64),
    user_id uuid REFERENCES users(id) ON DELETE CASCADE,
    actor varchar(200) NOT NULL,
    scopes varchar(500)[] NOT NULL,
    redirect_uri varchar(2000) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- A state lives ten minutes at most, whatever the code asks for.
    CONSTRAINT ck_oauth_attempts_ttl_at_most_10_min
        CHECK (expires_at <= created_at + interval '600 seconds')
);
CREATE INDEX ix_oauth_attempts_tenant_id ON oauth_attempts (tenant_id);

CREATE TABLE oauth_connections (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    provider_id uuid NOT NULL REFERENCES oauth_providers(id) ON DELETE CASCADE,
    user_id uuid REFERENCES users(id) ON DELETE SET NULL,
    subject varchar(255),
    requested_scopes varchar(500)[] NOT NULL,
    granted_scopes varchar(500)[] NOT NULL,
    status varchar(16) NOT NULL
        CONSTRAINT ck_oauth_connections_status_known
        CHECK (status IN ('active', 'needs_reauth', 'revoked')),
    status_reason varchar(500),
    access_expires_at timestamptz,
    has_refresh_token boolean NOT NULL DEFAULT false,
    last_refresh_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_oauth_connections_tenant_id ON oauth_connections (tenant_id);
-- One live connection per provider and tenant; revoked ones stay as history.
CREATE UNIQUE INDEX uq_oauth_connections_live ON oauth_connections (tenant_id, provider_id)
    WHERE status <> 'revoked';

CREATE TABLE oauth_secrets (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    owner_id uuid NOT NULL,
    kind varchar(16) NOT NULL
        CONSTRAINT ck_oauth_secrets_kind_known
        CHECK (kind IN ('client_secret', 'access', 'refresh', 'pkce_verifier')),
    version integer NOT NULL CONSTRAINT ck_oauth_secrets_version_positive CHECK (version >= 1),
    kek_version varchar(64) NOT NULL,
    wrapped_dek bytea NOT NULL,
    nonce bytea NOT NULL CONSTRAINT ck_oauth_secrets_nonce_len CHECK (octet_length(nonce) = 12),
    ciphertext bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_oauth_secrets_owner_id_kind UNIQUE (owner_id, kind)
);
CREATE INDEX ix_oauth_secrets_tenant_id ON oauth_secrets (tenant_id);
"""

OAUTH_TABLES = ("oauth_providers", "oauth_attempts", "oauth_connections", "oauth_secrets")


def upgrade() -> None:
    op.execute(TABLES)
    for table in OAUTH_TABLES:
        for stmt in tenant_table_ddl(table):
            op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE oauth_secrets, oauth_connections, oauth_attempts, oauth_providers")
