"""OAuth broker timings against the real test OpenID provider (npm oidc-provider, tests/servers).

1. connect: start (state, PKCE, nonce) -> the provider's redirects (login and consent
   complete themselves) -> callback (state, iss, code exchange, ID token check, tokens
   sealed), measured on the control plane.
2. token for the agent: from inside a real tenant container, ``POST /internal/v1/oauth/token``
   (agent key, engine lookup of the running instance and its address, RLS read, vault
   unseal, audit write).
3. calendar tool call: from inside the container, the whole connected-app tool (connection
   lookup + token + the stand-in Google Calendar API of the test provider).

Run as root on a host with podman, runc, nft, debootstrap and ``npm install`` in tests/servers:

    python bench/oauth/bench_oauth.py [--connects 30] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/osp-runtime-{os.getuid()}")
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.oidc

import uvicorn  # noqa: E402
from bench.agent.bench_overhead import free_port, pct  # noqa: E402
from tests.oidc import follow, running_oidc  # noqa: E402

from osp.app.agent import build_agent, connected_app_router  # noqa: E402
from osp.config import Settings  # noqa: E402
from osp.oauth.service import OAuthBroker  # noqa: E402
from osp.oauth.tools import tool_policy  # noqa: E402
from osp.platform import open_platform  # noqa: E402
from osp.runtime.podman import PodmanBackend, PodmanSettings  # noqa: E402
from osp.runtime.service import FixedImage  # noqa: E402
from osp.runtime.wiring import agent_image_builder, build_runtime, internal_app  # noqa: E402

CALENDAR = "https://www.googleapis.com/auth/calendar.events.readonly"
# Runs inside the container with the image's Python; the agent key arrives on stdin.
IN_CONTAINER = r"""
import json, sys, time, uuid
from osp.agent.internal import InternalApi
from osp.agent.tools.connected import connected_tools
from osp.agent.tools.registry import ToolContext
url, tenant, instance, conn, scope, api_base, n = sys.argv[1:8]
api = InternalApi(url, tenant, instance, sys.stdin.read().strip())
tools = {t.name: t for t in connected_tools(api, json.loads(api_base))}
tool = tools["google_calendar_list_events"]
args = {"calendar_id": "primary", "timeMin": "2026-01-01T00:00:00Z",
        "timeMax": "2026-01-02T00:00:00Z"}
ctx = ToolContext(tenant, "bench", "bench")
out = {"token": [], "tool": []}
for i in range(int(n)):
    t0 = time.perf_counter(); api.token(uuid.UUID(conn), scope); t1 = time.perf_counter()
    tool.handler(args, ctx); t2 = time.perf_counter()
    out["token"].append((t1 - t0) * 1000); out["tool"].append((t2 - t1) * 1000)
print(json.dumps(out))
"""


def line(name: str, values: list[float]) -> None:
    print(f"{name:34} n={len(values):4}  p50={statistics.median(values):6.1f} ms  "
          f"p90={pct(values, 90):6.1f} ms  p99={pct(values, 99):6.1f} ms  "
          f"max={max(values):6.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connects", type=int, default=30)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    cache = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))
    image = agent_image_builder(cache).build(reuse=True)
    with tempfile.TemporaryDirectory(prefix="osp-bench-") as tmp, \
            running_oidc(Path(tmp)) as oidc, \
            open_platform(Settings(data_dir=Path(tmp) / "data")) as platform:
        broker = OAuthBroker(platform.db, platform.vault, platform.audit, allow_loopback=True)
        tenant = platform.tenants.create(f"bench-oauth-{uuid.uuid4().hex[:6]}", "bench")
        broker.add_provider(tenant.id, "google", issuer=oidc.issuer, client_id=oidc.client_id,
                            client_secret=oidc.client_secret, redirect_uri=oidc.redirect_uri,
                            actor="bench")
        connect_ms: list[float] = []
        for _ in range(args.connects):
            t0 = time.perf_counter()
            begun = broker.start(tenant.id, "google", scopes=[CALENDAR], actor="bench")
            connection = broker.complete(follow(begun.authorization_url))
            connect_ms.append((time.perf_counter() - t0) * 1000)
        broker.close()
        line("connect (start+consent+callback)", connect_ms)

        internal_port = free_port()
        backend = PodmanBackend(PodmanSettings(prefix="osbo", pool="10.217.0.0/16",
                                               internal_api_port=internal_port))
        runtime = build_runtime(platform, backend=backend,
                                images=FixedImage(image.image_id, image.governance_version))
        agent = build_agent(platform, runtime)
        agent.settings.set_document(tenant.id, {"policy": {"preset": "lean", "tools": tool_policy(
            ["google_calendar_list_events"])}}, "bench")
        app = internal_app(runtime, [connected_app_router(platform, runtime, agent, broker)])
        server = uvicorn.Server(uvicorn.Config(app, host="0.0.0.0", port=internal_port,
                                               log_level="warning", lifespan="off"))
        threading.Thread(target=server.run, daemon=True).start()
        try:
            oidc_port = int(urlsplit(oidc.issuer).port or 0)
            runtime.service.set_limits(tenant, "bench", host_ports=(oidc_port,))
            runtime.service.start(tenant, "bench")
            running = backend.status(tenant.name)
            api_base = {"https://www.googleapis.com":
                        f"http://{running.gateway}:{oidc_port}/fake/googleapis"}
            proc = subprocess.run(
                ["podman", "exec", "-i", backend.container_name(tenant.name),
                 "/opt/osp/venv/bin/python", "-c", IN_CONTAINER,
                 f"http://{running.gateway}:{internal_port}", tenant.name,
                 running.instance_id, str(connection.id), CALENDAR, json.dumps(api_base),
                 str(args.calls)],
                input=runtime.bootstrap.agent_key(tenant.name, running.instance_id),
                capture_output=True, text=True, timeout=900, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"in-container run failed: {proc.stderr.strip()[-400:]}")
            result = json.loads(proc.stdout)
            line("agent token (internal API)", result["token"])
            line("calendar tool call (token+API)", result["tool"])
        finally:
            server.should_exit = True
            for rt in backend.list_tenants():
                backend.remove(rt.tenant, purge_data=True)
            backend.firewall.remove(backend.table)


if __name__ == "__main__":
    main()
