"""Serves the admin API and the internal API (for tenant containers) until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

from osp.logs import get_logger
from osp.oauth.wiring import refresh_job_hook
from osp.platform import Platform
from osp.runtime.service import EngineError
from osp.runtime.wiring import billing_router, build_runtime, internal_app, tenant_router
from osp.web.app import create_app

log = get_logger("osp.up")

# The internal listener binds every address because tenant bridges reach the host on their
# gateway addresses; the host firewall lets tenant networks reach only this port.
INTERNAL_HOST = "0.0.0.0"  # noqa: S104


def _server(app: object, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,  # type: ignore[arg-type]
                                         access_log=False))


def serve(platform: Platform) -> None:
    cfg = platform.settings
    parts = build_runtime(platform)
    try:
        report = parts.service.reconcile()
        for name in report.orphans:
            log.warning("orphan_container", tenant=name)
        for name, why in report.failed.items():
            log.error("tenant_start_failed", tenant=name, reason=why)
        print(f"tenants: {len(report.started)} started, {len(report.stopped)} stopped, "
              f"{len(report.failed)} failed, {len(report.orphans)} orphan container(s)",
              flush=True)
    except EngineError as exc:
        # The admin API stays useful without a container engine; tenants just do not run.
        print(f"warning: container engine unavailable, tenants are not running: {exc.message}",
              flush=True)
    start_refresh, stop_refresh = refresh_job_hook(platform)
    admin = create_app(platform, extra_routers=[billing_router(parts), tenant_router(parts)],
                       on_startup=[start_refresh])
    servers = [_server(admin, cfg.host, cfg.port),
               _server(internal_app(parts), INTERNAL_HOST, cfg.internal_port)]
    print(f"OSP control plane on http://{cfg.host}:{cfg.port} (data dir {cfg.data_dir}); "
          "Ctrl-C stops it", flush=True)
    log.info("started", host=cfg.host, port=cfg.port, internal_port=cfg.internal_port)

    async def run_all() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_all())
    stop_refresh()
    log.info("stopped")
