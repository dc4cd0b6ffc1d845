"""No token value in a database dump, in the logs or in the audit trail."""

from __future__ import annotations

import io
import json
import logging
import subprocess
from pathlib import Path

import httpx
import pgserver
import pytest

from osp.logs import configure_logging
from osp.oauth.refresh import access_token
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from tests.oauth.conftest import OidcServer, Setup, follow


def test_no_token_value_in_pg_dump_logs_or_audit(
        platform: Platform, connected_tenant: Setup, oidc: OidcServer,
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def capture(resp: httpx.Response) -> None:
        # Every token the provider hands out, as the wire carried it.
        if resp.request.url.path == "/token":
            resp.read()
            body = resp.json()
            seen.extend(str(body[k]) for k in ("access_token", "refresh_token", "id_token")
                        if k in body)

    logs = io.StringIO()
    configure_logging("debug", stream=logs)
    caplog.set_level(logging.DEBUG)
    broker = OAuthBroker(platform.db, platform.vault, platform.audit,
                         http=httpx.Client(event_hooks={"response": [capture]}))
    tid = connected_tenant.tenant_id
    try:
        start = broker.start(tid, "idp", scopes=["calendar.read"], actor="t")
        conn = broker.complete(follow(start.authorization_url))
        access_token(broker, tid, conn.id, "calendar.read", "agent", force_refresh=True)
        access_token(broker, tid, conn.id, "calendar.read", "agent")
        start = broker.start(tid, "idp", scopes=["calendar.read"], actor="t")
        broker.complete(follow(start.authorization_url))  # reconnect: tokens replaced
        dump_live = _pg_dump(platform)
        with platform.db.tenant(tid) as s:
            # What a tenant container receives at boot: the tenant's vault secrets. OAuth
            # tokens are kept apart, so none of them can ride along.
            boot_secrets = b"".join(platform.vault.get_all(s, tid).values()).decode()
        broker.revoke(tid, "idp", "t")
    finally:
        broker.close()
        configure_logging()

    assert len(seen) >= 6  # 2 connects x 3 tokens + 1 refresh x 2
    secrets = [*seen, oidc.client_secret]
    dump = dump_live + _pg_dump(platform)
    with platform.db.tenant(tid) as s:
        trail = json.dumps([[e.actor, e.kind, e.details] for e in platform.audit.list(s, tid,
                                                                                     limit=500)])
    assert "oauth.refreshed" in trail and "oauth.connected" in trail
    assert "oauth_secrets" in dump  # the dump did include the sealed table
    captured = logs.getvalue() + caplog.text
    assert "oauth_refreshed" in captured
    for value in secrets:
        assert value not in boot_secrets
        assert value not in dump
        assert value not in trail
        assert value not in captured


def _pg_dump(platform: Platform) -> str:
    pg_dump = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    done = subprocess.run([str(pg_dump), "--dbname", platform.admin_url, "--data-only"],
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout
