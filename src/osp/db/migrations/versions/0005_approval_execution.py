"""Approved calls run once: ``approvals.executed_at`` marks an approval spent.

A connected-app call that needs a person's approval is run by the control plane itself,
with the arguments the person saw, and only once per approval (see
``osp.approvals.service.ApprovalService.claim``). The CHECK keeps it honest in the
database: only an approved call can have run.

Revision ID: 0005_approval_execution
Revises: 0004_agent
"""

from __future__ import annotations

from alembic import op

revision = "0005_approval_execution"
down_revision = "0004_agent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE approvals ADD COLUMN executed_at timestamptz;
ALTER TABLE approvals ADD CONSTRAINT ck_approvals_executed_only_if_approved
    CHECK (executed_at IS NULL OR status = 'approved');
""")


def downgrade() -> None:
    op.execute("ALTER TABLE approvals DROP COLUMN executed_at")
