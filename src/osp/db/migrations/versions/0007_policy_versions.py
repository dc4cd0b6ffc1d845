"""Policy versions: every saved agent configuration document is kept, numbered per tenant.

Append-only for the application: the app role may read and add versions, never change or
remove one (no UPDATE/DELETE grant, and a trigger refuses UPDATE whoever asks). Deleting a
tenant removes its versions with it (the foreign key's cascade runs as the table owner).
The documents already saved become version 1.

Revision ID: 0007_policy_versions
Revises: 0006_message_protection
"""

from __future__ import annotations

from alembic import op

from osp.db.rls import tenant_table_ddl

revision = "0007_policy_versions"
down_revision = "0006_message_protection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE policy_versions (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    version integer NOT NULL CONSTRAINT ck_policy_versions_version_positive CHECK (version > 0),
    document jsonb NOT NULL,
    digest char(64) NOT NULL,
    actor varchar(200) NOT NULL,
    note varchar(200) NOT NULL DEFAULT '',
    restored_from integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);
CREATE FUNCTION policy_versions_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'policy_versions is append-only (UPDATE refused)'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION policy_versions_no_update();
INSERT INTO policy_versions (tenant_id, version, document, digest, actor, note)
    SELECT tenant_id, 1, document, encode(sha256(convert_to(document::text, 'UTF8')), 'hex'),
           'osp:migration', 'saved before versions were kept'
    FROM agent_config WHERE document <> '{}'::jsonb;
""")
    for stmt in tenant_table_ddl("policy_versions", grants="SELECT, INSERT"):
        op.execute(stmt)


def downgrade() -> None:
    op.execute("DROP TABLE policy_versions; DROP FUNCTION policy_versions_no_update()")
