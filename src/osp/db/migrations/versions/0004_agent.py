"""Governed agent: per-tenant agent configuration, persisted chat messages, the approval
queue of paused tool calls, and processed channel deliveries (for de-duplication).

Every table is tenant data under the RLS rule.

Revision ID: 0004_agent
Revises: 0001_core
"""

from __future__ import annotations

from alembic import op

from osp.db.rls import tenant_table_ddl

revision = "0004_agent"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TABLES = """
-- Model, governance policy, flows and tool settings of a tenant's agent. No secret here:
-- the model key is the vault secret MODEL_API_KEY, delivered to the container at boot.
CREATE TABLE agent_config (
    tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    provider varchar(16)
        CONSTRAINT ck_agent_config_provider_known CHECK (provider IN ('openai', 'anthropic')),
    base_url varchar(2000),
    model varchar(200),
    document jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A message is written here before it is delivered, so a crash or a container restart
-- mid-message leaves a row that is retried or visibly failed, never nothing.
CREATE TABLE agent_messages (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel varchar(16) NOT NULL
        CONSTRAINT ck_agent_messages_channel_known CHECK (channel IN ('api', 'slack', 'telegram')),
    channel_user varchar(200) NOT NULL,
    text text NOT NULL CONSTRAINT ck_agent_messages_text_size CHECK (length(text) <= 32000),
    status varchar(20) NOT NULL DEFAULT 'queued'
        CONSTRAINT ck_agent_messages_status_known CHECK (status IN
            ('queued', 'delivering', 'answered', 'awaiting_approval', 'failed')),
    reply text,
    error varchar(500),
    attempts integer NOT NULL DEFAULT 0,
    reply_to jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_agent_messages_tenant_id ON agent_messages (tenant_id);
CREATE INDEX ix_agent_messages_status ON agent_messages (tenant_id, status);

-- Paused tool calls. A decision is final: the CHECK keeps decided rows decided.
CREATE TABLE approvals (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    message_id uuid NOT NULL REFERENCES agent_messages(id) ON DELETE CASCADE,
    tool varchar(100) NOT NULL,
    arguments jsonb NOT NULL,
    status varchar(16) NOT NULL DEFAULT 'pending'
        CONSTRAINT ck_approvals_status_known CHECK (status IN
            ('pending', 'approved', 'denied', 'expired')),
    decided_by varchar(200),
    decided_at timestamptz,
    result text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT ck_approvals_decided CHECK ((status = 'pending') = (decided_at IS NULL)),
    CONSTRAINT ck_approvals_expiry_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX ix_approvals_tenant_id ON approvals (tenant_id);

-- Channel deliveries already accepted (Slack event ids, Telegram update ids): a retried
-- delivery finds its id here and is acknowledged without running the agent twice.
CREATE TABLE channel_events (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    channel varchar(16) NOT NULL,
    event_id varchar(128) NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_channel_events PRIMARY KEY (tenant_id, channel, event_id)
);
CREATE INDEX ix_channel_events_tenant_id ON channel_events (tenant_id);
"""


def upgrade() -> None:
    op.execute(TABLES)
    for table in ("agent_config", "agent_messages", "approvals"):
        for stmt in tenant_table_ddl(table):
            op.execute(stmt)
    # De-duplication evidence is append-only for the app role.
    for stmt in tenant_table_ddl("channel_events", grants="SELECT, INSERT"):
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE channel_events, approvals, agent_messages, agent_config")
