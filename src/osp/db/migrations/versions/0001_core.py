"""Core schema: tenants, vault, audit trail, identity. Every tenant-data table is under RLS.

Revision ID: 0001_core
Revises:
"""

from __future__ import annotations

from alembic import op

from osp.db.rls import APP_ROLE, tenant_table_ddl

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name varchar(40) NOT NULL CONSTRAINT uq_tenants_name UNIQUE
        CONSTRAINT ck_tenants_name_format CHECK (name ~ '^[a-z][a-z0-9-]{0,38}[a-z0-9]$'),
    state varchar(16) NOT NULL DEFAULT 'active'
        CONSTRAINT ck_tenants_state_known CHECK (state IN ('active', 'suspended')),
    require_2fa boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE secret_versions (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name varchar(128) NOT NULL
        CONSTRAINT ck_secret_versions_name_format CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,127}$'),
    version integer NOT NULL CONSTRAINT ck_secret_versions_version_positive CHECK (version >= 1),
    kek_provider varchar(16) NOT NULL,
    kek_version varchar(64) NOT NULL,
    wrapped_dek bytea NOT NULL,
    nonce bytea NOT NULL CONSTRAINT ck_secret_versions_nonce_len CHECK (octet_length(nonce) = 12),
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_secret_versions_tenant_name_version UNIQUE (tenant_id, name, version)
);
CREATE INDEX ix_secret_versions_tenant_id ON secret_versions (tenant_id);

CREATE TABLE audit_events (
    tenant_id uuid NOT NULL,
    seq bigint NOT NULL CONSTRAINT ck_audit_events_seq_positive CHECK (seq >= 1),
    at timestamptz NOT NULL,
    actor varchar(200) NOT NULL,
    kind varchar(100) NOT NULL,
    details jsonb NOT NULL,
    prev_hash char(64) NOT NULL,
    hash char(64) NOT NULL,
    CONSTRAINT pk_audit_events PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX ix_audit_events_tenant_id ON audit_events (tenant_id);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email varchar(254) NOT NULL CONSTRAINT ck_users_email_lower CHECK (email = lower(email)),
    password_hash varchar(255) NOT NULL,
    role varchar(16) NOT NULL
        CONSTRAINT ck_users_role_known CHECK (role IN ('owner', 'admin', 'member')),
    totp_wrapped_dek bytea,
    totp_ciphertext bytea,
    totp_nonce bytea,
    totp_kek_version varchar(64),
    totp_enabled boolean NOT NULL DEFAULT false,
    totp_last_step bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT uq_users_tenant_email UNIQUE (tenant_id, email),
    CONSTRAINT ck_users_totp_sealed CHECK (NOT totp_enabled OR totp_ciphertext IS NOT NULL)
);
CREATE INDEX ix_users_tenant_id ON users (tenant_id);

CREATE TABLE recovery_codes (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash char(64) NOT NULL,
    used_at timestamptz
);
CREATE INDEX ix_recovery_codes_tenant_id ON recovery_codes (tenant_id);

CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash char(64) NOT NULL CONSTRAINT uq_sessions_token_hash UNIQUE,
    csrf_hash char(64) NOT NULL,
    stage varchar(8) NOT NULL
        CONSTRAINT ck_sessions_stage_known CHECK (stage IN ('mfa', 'enrol', 'full')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX ix_sessions_tenant_id ON sessions (tenant_id);

CREATE TABLE api_tokens (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id uuid REFERENCES users(id) ON DELETE CASCADE,
    name varchar(100) NOT NULL,
    token_hash char(64) NOT NULL CONSTRAINT uq_api_tokens_token_hash UNIQUE,
    scopes varchar(64)[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX ix_api_tokens_tenant_id ON api_tokens (tenant_id);

CREATE TABLE login_throttle (
    key_hash char(64) PRIMARY KEY,
    failures integer NOT NULL DEFAULT 0,
    window_start timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
);
"""

# The trail is append-only for everybody, the owner included: the app role only gets
# SELECT/INSERT, and this trigger refuses UPDATE, DELETE and TRUNCATE whoever asks.
AUDIT_GUARD = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
"""

# The registry of tenants: a tenant context sees only its own row; listing or creating
# tenants needs the explicit platform scope (operator commands, login by tenant name).
TENANTS_RLS = f"""
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_registry ON tenants
    USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
           OR current_setting('app.scope', true) = 'platform')
    WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
           OR current_setting('app.scope', true) = 'platform');
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants TO {APP_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON login_throttle TO {APP_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(AUDIT_GUARD)
    op.execute(TENANTS_RLS)
    for table in ("secret_versions", "users", "recovery_codes", "sessions", "api_tokens"):
        for stmt in tenant_table_ddl(table):
            op.execute(stmt)
    for stmt in tenant_table_ddl("audit_events", grants="SELECT, INSERT"):
        op.execute(stmt)


def downgrade() -> None:
    op.execute(
        "DROP TABLE login_throttle, api_tokens, sessions, recovery_codes, users, audit_events, "
        "secret_versions, tenants CASCADE; DROP FUNCTION audit_events_append_only()"
    )
