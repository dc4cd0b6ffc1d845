"""A paused call's arguments and result are sealed at rest like the message they belong to:
the table holds ciphertext only, the API still shows them, and a sealed value moved to
another approval does not open."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable

import pytest

from osp.app.agent import build_agent
from osp.approvals.models import Approval
from osp.errors import IntegrityFailure, OspError
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.gateway.fixtures import NoAgent

SECRET_ARGUMENT = "transfer to IBAN DE89370400440532013000 for Ada"


def test_approval_arguments_and_result_hold_ciphertext_only(
        platform: Platform, make_tenant: Callable[..., TenantInfo],
        superuser_sql: Callable[[str], list[tuple[object, ...]]]) -> None:
    tenant = make_tenant("seal")
    parts = build_agent(platform, locator=NoAgent())
    gateway = parts.gateway
    with contextlib.suppress(OspError):  # no agent: the message fails, its row stays
        gateway.send(tenant, "api", "ada", "pay my bill")
    message_id = uuid.UUID(gateway.recent(tenant, None, 1)[0]["message_id"])
    first, second = uuid.uuid4(), uuid.uuid4()
    with platform.db.tenant(tenant.id) as s:
        for approval_id in (first, second):
            gateway.approvals.add(s, tenant, message_id, {
                "id": approval_id.hex, "tool": "pay", "arguments": {"note": SECRET_ARGUMENT},
                "expires_at": time.time() + 3600})
        row = s.get(Approval, first)
        assert row is not None
        row.result = gateway.protection.seal(s, tenant.id, first, "approval.result",
                                             f"paid: {SECRET_ARGUMENT}")

    dump = superuser_sql(f"SELECT arguments::text, coalesce(result, '') FROM approvals "
                         f"WHERE tenant_id = '{tenant.id}'")
    assert len(dump) == 2
    assert SECRET_ARGUMENT not in json.dumps([list(map(str, r)) for r in dump])
    assert "IBAN" not in str(dump)

    shown = {a.id: a for a in parts.approvals.list(tenant, status=None)}
    assert shown[first].arguments == {"note": SECRET_ARGUMENT}
    assert shown[first].result == f"paid: {SECRET_ARGUMENT}"

    # A ciphertext copied onto another approval is bound to its own id: it does not open.
    superuser_sql(f"UPDATE approvals SET arguments = (SELECT arguments FROM approvals "
                  f"WHERE id = '{first}') WHERE id = '{second}'")
    with pytest.raises(IntegrityFailure):
        parts.approvals.list(tenant, status=None)
