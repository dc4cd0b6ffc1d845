"""Runs the control plane's admin app in its own process, on the test session's database.

``python -m tests.reliability.serve_app <port>`` with ``OSP_DATA_DIR`` and
``OSP_DATABASE_URL`` set: the same routers ``osp up`` serves (identity, tenancy, vault,
audit, OAuth, billing, tenant runtime, chat, approvals, channels), without reconciling
containers or starting background jobs, so a test can measure the process (its memory)
from the outside and nothing it does touches another test's tenants.
"""

from __future__ import annotations

import sys

import uvicorn

from osp.config import load_settings
from osp.gateway.wiring import agent_routers, build_agent
from osp.platform import open_platform
from osp.runtime.wiring import billing_router, build_runtime, tenant_router
from osp.web.app import create_app


def main() -> None:
    port = int(sys.argv[1])
    with open_platform(load_settings(), run_migrations=False) as platform:
        runtime = build_runtime(platform)
        agent = build_agent(platform, runtime)
        app = create_app(platform, extra_routers=[billing_router(runtime),
                                                  tenant_router(runtime),
                                                  *agent_routers(agent)])
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
