"""Console page render time on the server with 100 tenants.

What is measured: a GET of each console page, made in-process through the ASGI app (no
network, no browser), for a randomly picked tenant's signed-in owner each time. The time
covers the whole request on the server: session lookup, tenant and scope checks, the service
calls (database under row-level security, audit chain verification, vault listing), Jinja2
rendering and the security headers. Each tenant has an owner, a member, three secrets (one
with two versions), two API tokens, a policy document and the audit events all that wrote.
Each tenant's policy has three saved versions. One extra tenant has a long trail
(``--long-trail`` events) to show how the audit page scales: the first view verifies the
whole chain (printed apart, "cold"); later views check the database fingerprint of the
verified prefix and re-hash only newer events (measured with and without a new event
before each view). The operator pages (tenants with billing state, fleet, platform trail)
are measured for a signed-in operator over all tenants.

Not included: the overview's query to the container engine (the benchmark runs without one;
with podman, ``runtime.status`` adds an inspect call) and chat/approval pages' agent round
trip (that is the agent overhead benchmark's subject).

    python bench/console/bench_console.py [--tenants 100] [--requests 300] [--long-trail 5000]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/osp-runtime-{os.getuid()}")
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)

from fastapi.testclient import TestClient  # noqa: E402

from osp.app import core_routers  # noqa: E402
from osp.app.agent import agent_routers, build_agent  # noqa: E402
from osp.config import Settings  # noqa: E402
from osp.console import ConsoleServices, build_console  # noqa: E402
from osp.gateway.interfaces import AgentEndpoint  # noqa: E402
from osp.identity.scopes import ROLE_SCOPES  # noqa: E402
from osp.identity.service import Principal  # noqa: E402
from osp.platform import Platform, open_platform  # noqa: E402
from osp.tenancy.service import TenantInfo  # noqa: E402
from osp.web.app import create_app  # noqa: E402

PAGES = ("overview", "chat", "approvals", "policy", "policy?mode=form", "policy/versions?a=1",
         "audit", "secrets", "tokens", "users", "connections")
OPERATOR_PAGES = ("operator/tenants", "operator/fleet", "operator/audit")
PASSWORD = "correct horse battery staple 7"  # noqa: S105 -- bench users only


class NoAgent:
    def locate(self, tenant: str) -> AgentEndpoint | None:
        return None

    def forget(self, tenant: str) -> None:
        return None

    def expected(self, tenant_id: uuid.UUID) -> bool:
        return False


def populate(platform: Platform, name: str) -> tuple[TenantInfo, dict[str, str]]:
    tenant = platform.tenants.create(name, "bench")
    owner = f"owner@{name}.example.com"
    user_id = platform.identity.create_user(tenant, owner, PASSWORD, "owner", "bench")
    platform.identity.create_user(tenant, f"member@{name}.example.com", PASSWORD, "member",
                                  "bench")
    with platform.db.tenant(tenant.id) as s:
        for secret in ("MODEL_API_KEY", "SLACK_BOT_TOKEN", "MODEL_API_KEY", "CRM_KEY"):
            platform.vault.put(s, tenant.id, secret, os.urandom(16).hex().encode(), "bench")
    principal = Principal(tenant.id, user_id, "owner", "session", scopes=ROLE_SCOPES["owner"])
    for token in ("ci", "reporting"):
        platform.identity.create_token(principal, token, ["tenant:read", "audit:read"], 30)
    login = platform.identity.login(name, owner, PASSWORD, "127.0.0.1")
    return tenant, {"osp_session": login.token, "osp_csrf": login.csrf}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, times: list[float]) -> None:
    print(f"{name:<22}{len(times):>6}{statistics.median(times):>10.1f}"
          f"{pct(times, 95):>10.1f}{pct(times, 99):>10.1f}")


def operator_cookies(platform: Platform) -> dict[str, str]:
    import pyotp

    _, seed = platform.operators.create("operator@bench.example.com", PASSWORD, "bench")
    login = platform.operators.login("operator@bench.example.com", PASSWORD,
                                     pyotp.TOTP(seed).now(), "127.0.0.1")
    return {"osp_op_session": login.token, "osp_op_csrf": login.csrf}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--requests", type=int, default=300, help="per page")
    ap.add_argument("--long-trail", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            open_platform(Settings(data_dir=Path(tmp))) as platform:
        agent = build_agent(platform, locator=NoAgent())
        app = create_app(platform, [*core_routers(), *agent_routers(agent)])
        app.mount("/console", build_console(ConsoleServices(platform, agent.gateway,
                                                            agent.approvals, None, None)))
        started = time.perf_counter()
        tenants = []
        for i in range(args.tenants):
            tenant, cookies = populate(platform, f"bench-{i:03d}")
            for version in range(3):
                agent.settings.set_document(tenant.id, {
                    "system_prompt": f"You help tenant {i} (v{version}).",
                    "policy": {"preset": "lean"}}, "bench", note=f"version {version}")
            tenants.append((tenant, cookies))
        long_tenant, long_cookies = populate(platform, "bench-long")
        with platform.db.tenant(long_tenant.id) as s:
            for n in range(args.long_trail):
                platform.audit.record(s, long_tenant.id, "bench", "bench.event", {"n": n})
        print(f"{args.tenants} tenants (+1 with {args.long_trail} audit events) populated in "
              f"{time.perf_counter() - started:.1f} s")
        rng = random.Random(7)
        with TestClient(app, base_url="https://localhost") as client:
            for tenant, cookies in tenants[:5]:  # warm-up: templates compiled, pools filled
                for page in PAGES:
                    client.cookies.clear()
                    client.get(f"/console/t/{tenant.name}/{page}", cookies=cookies)
            print(f"{'page':<22}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
            worst = 0.0
            for page in PAGES:
                times = []
                for _ in range(args.requests):
                    tenant, cookies = rng.choice(tenants)
                    client.cookies.clear()
                    t0 = time.perf_counter()
                    r = client.get(f"/console/t/{tenant.name}/{page}", cookies=cookies)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, (page, r.status_code)
                worst = max(worst, pct(times, 95))
                print(f"{page:<22}{len(times):>6}{statistics.median(times):>10.1f}"
                      f"{pct(times, 95):>10.1f}{pct(times, 99):>10.1f}")
            op_cookies = operator_cookies(platform)
            for page in OPERATOR_PAGES:
                times = []
                for _ in range(max(20, args.requests // 5)):
                    client.cookies.clear()
                    t0 = time.perf_counter()
                    r = client.get(f"/console/{page}", cookies=op_cookies)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, (page, r.status_code)
                worst = max(worst, pct(times, 95))
                report(page, times)

            def long_audit(appending: bool) -> list[float]:
                times = []
                for _ in range(max(20, args.requests // 10)):
                    if appending:
                        with platform.db.tenant(long_tenant.id) as s:
                            platform.audit.record(s, long_tenant.id, "bench", "bench.more", {})
                    client.cookies.clear()
                    t0 = time.perf_counter()
                    r = client.get(f"/console/t/{long_tenant.name}/audit",
                                   cookies=long_cookies)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200
                    assert "verified" in r.text
                return times

            cold = long_audit(False)[:1]  # the first view verifies the whole trail
            report("audit long, cold", cold)
            report("audit long", long_audit(False))
            report("audit long +1 event", long_audit(True))
            print(f"worst page p95 with {args.tenants} tenants: {worst:.1f} ms (goal 200 ms)")


if __name__ == "__main__":
    main()
