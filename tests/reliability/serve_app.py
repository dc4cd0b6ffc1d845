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

from osp.app import open_app
from osp.config import load_settings


def main() -> None:
    port = int(sys.argv[1])
    with open_app(load_settings(), run_migrations=False) as app:
        uvicorn.run(app.admin_app(with_jobs=False), host="127.0.0.1", port=port,
                    log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
