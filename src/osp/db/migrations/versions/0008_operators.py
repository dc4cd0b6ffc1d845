"""Platform operators: people who run the installation (tenants, fleet, platform trail),
separate from every tenant's users, and their console sessions.

Both tables are visible only in the platform scope (``app.scope = 'platform'``): a tenant
context sees no operator and no operator session, so no tenant-side code path can read or
forge one. The platform scope may also *read* billing events (event id, kind, time: no
tenant data), so the operators' tenant list shows every tenant's billing state in one query.

Revision ID: 0008_operators
Revises: 0007_policy_versions
"""

from __future__ import annotations

from alembic import op

from osp.db.rls import APP_ROLE

revision = "0008_operators"
down_revision = "0007_policy_versions"
branch_labels = None
depends_on = ("0002_runtime",)  # billing_events (its platform read policy)

PLATFORM_ONLY = "current_setting('app.scope', true) = 'platform'"


def upgrade() -> None:
    op.execute("""
CREATE TABLE operators (
    id uuid PRIMARY KEY,
    email varchar(254) NOT NULL CONSTRAINT uq_operators_email UNIQUE
        CONSTRAINT ck_operators_email_lower CHECK (email = lower(email)),
    password_hash varchar(255) NOT NULL,
    totp_wrapped_dek bytea NOT NULL,
    totp_ciphertext bytea NOT NULL,
    totp_nonce bytea NOT NULL,
    totp_kek_version varchar(64) NOT NULL,
    totp_last_step bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE operator_sessions (
    id uuid PRIMARY KEY,
    operator_id uuid NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    token_hash char(64) NOT NULL CONSTRAINT uq_operator_sessions_token_hash UNIQUE,
    csrf_hash char(64) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX ix_operator_sessions_operator_id ON operator_sessions (operator_id);
""")
    for table in ("operators", "operator_sessions"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY platform_only ON {table} USING ({PLATFORM_ONLY}) "
                   f"WITH CHECK ({PLATFORM_ONLY})")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(f"CREATE POLICY platform_read ON billing_events FOR SELECT USING ({PLATFORM_ONLY})")


def downgrade() -> None:
    op.execute("DROP POLICY platform_read ON billing_events; "
               "DROP TABLE operator_sessions; DROP TABLE operators")
