"""Messages at rest: a data key per tenant (wrapped by the KEK) and a retention period.

``agent_messages.text``, ``reply`` and ``error`` then hold ciphertext only (sealed by
``osp.gateway.protect``); the database never sees a message in the clear. Deleting a
tenant deletes its key with it.

Revision ID: 0006_message_protection
Revises: 0005_approval_execution
"""

from __future__ import annotations

from alembic import op

from osp.db.rls import tenant_table_ddl

revision = "0006_message_protection"
down_revision = "0005_approval_execution"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE message_protection (
    tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    kek_version varchar(64) NOT NULL,
    wrapped_dek bytea NOT NULL,
    retention_days integer
        CONSTRAINT ck_message_protection_retention_range
        CHECK (retention_days IS NULL OR retention_days BETWEEN 1 AND 3650),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_agent_messages_tenant_created ON agent_messages (tenant_id, created_at);
""")
    for stmt in tenant_table_ddl("message_protection"):
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE message_protection; DROP INDEX ix_agent_messages_tenant_created")
