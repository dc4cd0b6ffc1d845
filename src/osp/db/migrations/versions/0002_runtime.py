"""Runtime: desired state per tenant, single-use bootstrap tokens, billing event ids,
and platform-level sealed secrets (billing webhook key, runtime key).

Revision ID: 0002_runtime
Revises: 0001_core
"""

from __future__ import annotations

from alembic import op

from osp.db.rls import APP_ROLE, tenant_table_ddl

revision = "0002_runtime"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TABLES = """
-- The desired state of a tenant's runtime; the engine's observed state is never stored.
-- Its primary key is tenant_id, which is also the tenant_id index the RLS rule asks for.
CREATE TABLE tenant_runtime (
    tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    desired varchar(16) NOT NULL DEFAULT 'stopped'
        CONSTRAINT ck_tenant_runtime_desired_known CHECK (desired IN ('running', 'stopped')),
    instance_id varchar(64),
    image_id varchar(71)
        CONSTRAINT ck_tenant_runtime_image_digest CHECK (image_id ~ '^sha256:[0-9a-f]{64}$'),
    memory_mb integer NOT NULL DEFAULT 256
        CONSTRAINT ck_tenant_runtime_memory_min CHECK (memory_mb >= 32),
    cpus numeric(5, 2) NOT NULL DEFAULT 0.5 CONSTRAINT ck_tenant_runtime_cpus_pos CHECK (cpus > 0),
    pids integer NOT NULL DEFAULT 64 CONSTRAINT ck_tenant_runtime_pids_pos CHECK (pids > 0),
    host_ports integer[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a token is stored; the database itself refuses a lifetime over 60 s.
CREATE TABLE bootstrap_tokens (
    token_hash char(64) PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    instance_id varchar(64) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    CONSTRAINT ck_bootstrap_tokens_short_lived
        CHECK (expires_at <= created_at + interval '60 seconds')
);
CREATE INDEX ix_bootstrap_tokens_tenant_id ON bootstrap_tokens (tenant_id);

-- Processed billing events, for de-duplication (a replayed event id is refused).
CREATE TABLE billing_events (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    event_id varchar(128) NOT NULL,
    kind varchar(64) NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_billing_events PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX ix_billing_events_tenant_id ON billing_events (tenant_id);

-- Platform-level secrets, sealed with the vault's envelope encryption (never plaintext).
-- Not tenant data: readable only in the explicit platform scope.
CREATE TABLE platform_secrets (
    name varchar(64) PRIMARY KEY,
    version integer NOT NULL,
    kek_version varchar(64) NOT NULL,
    wrapped_dek bytea NOT NULL,
    nonce bytea NOT NULL CONSTRAINT ck_platform_secrets_nonce_len CHECK (octet_length(nonce) = 12),
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

PLATFORM_RLS = f"""
ALTER TABLE platform_secrets ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_secrets FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON platform_secrets
    USING (current_setting('app.scope', true) = 'platform')
    WITH CHECK (current_setting('app.scope', true) = 'platform');
GRANT SELECT, INSERT, UPDATE ON platform_secrets TO {APP_ROLE};
"""


def upgrade() -> None:
    op.execute(TABLES)
    for table in ("tenant_runtime", "bootstrap_tokens"):
        for stmt in tenant_table_ddl(table):
            op.execute(stmt)
    # Billing event ids are append-only evidence: no UPDATE/DELETE for the app role.
    for stmt in tenant_table_ddl("billing_events", grants="SELECT, INSERT"):
        op.execute(stmt)
    op.execute(PLATFORM_RLS)


def downgrade() -> None:
    op.execute("DROP TABLE platform_secrets, billing_events, bootstrap_tokens, tenant_runtime")
