"""Serves the admin API and the internal API (for tenant containers) until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

import uvicorn

from osp.audit.anchor import AnchorFile, anchor_all
from osp.gateway.demo import create_demo
from osp.gateway.wiring import AgentParts, agent_routers, build_agent, connected_app_router
from osp.logs import get_logger
from osp.oauth.wiring import refresh_job_hook
from osp.platform import Platform
from osp.runtime.service import EngineError
from osp.runtime.wiring import (
    RuntimeParts,
    billing_router,
    build_runtime,
    internal_app,
    recover_fleet,
    tenant_router,
)
from osp.web.app import create_app

log = get_logger("osp.up")

# The internal listener binds every address because tenant bridges reach the host on their
# gateway addresses; the host firewall lets tenant networks reach only this port.
INTERNAL_HOST = "0.0.0.0"  # noqa: S104
APPROVAL_EXPIRY_INTERVAL_S = 60.0
AUDIT_ANCHOR_INTERVAL_S = 60.0


def _server(app: object, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port,  # type: ignore[arg-type]
                            log_config=None, access_log=False)
    return uvicorn.Server(config)


def _reconcile(platform: Platform, runtime: RuntimeParts, agent: AgentParts) -> None:
    try:
        report = runtime.service.reconcile()
    except EngineError as exc:
        # The admin API stays useful without a container engine; tenants just do not run.
        print(f"warning: container engine unavailable, tenants are not running: {exc.message}",
              flush=True)
        return
    for name in report.orphans:
        log.warning("orphan_container", tenant=name)
    for name, why in report.failed.items():
        log.error("tenant_start_failed", tenant=name, reason=why)
    print(f"tenants: {len(report.started)} started, {len(report.stopped)} stopped, "
          f"{len(report.failed)} failed, {len(report.orphans)} orphan container(s)", flush=True)
    # Messages a crash left queued or in delivery end answered or visibly failed, never lost.
    for tenant in platform.tenants.list():
        try:
            agent.gateway.recover(tenant)
        except Exception as exc:  # one tenant's trouble must not stop the others
            log.error("message_recovery_failed", tenant=tenant.name, error=type(exc).__name__)


def _every(interval_s: float, what: str, job: Callable[[], object],
           stop: threading.Event) -> threading.Thread:
    """A daemon thread running ``job`` every ``interval_s`` until ``stop`` (not yet started)."""
    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                job()
            except Exception as exc:  # the next round retries; the process keeps serving
                log.error(f"{what}_failed", error=type(exc).__name__)

    return threading.Thread(target=loop, name=what, daemon=True)


def _anchor(platform: Platform) -> None:
    anchor_all(platform.db, AnchorFile(platform.settings.anchor_path),
               [t.id for t in platform.tenants.list()])


def serve(platform: Platform, *, demo: bool = False) -> None:
    cfg = platform.settings
    runtime = build_runtime(platform)
    agent = build_agent(platform, runtime)
    recovered = recover_fleet(platform, runtime)  # before reconcile: no half-upgraded tenant
    if recovered:
        print(recovered, flush=True)
    _reconcile(platform, runtime, agent)
    if demo:
        print(create_demo(platform, runtime), flush=True)
    start_refresh, stop_refresh = refresh_job_hook(platform)
    stop = threading.Event()
    expiry = _every(APPROVAL_EXPIRY_INTERVAL_S, "approval_expiry", agent.approvals.expire_all,
                    stop)
    anchoring = _every(AUDIT_ANCHOR_INTERVAL_S, "audit_anchor", lambda: _anchor(platform), stop)
    admin = create_app(platform, extra_routers=[billing_router(runtime), tenant_router(runtime),
                                                *agent_routers(agent)],
                       on_startup=[start_refresh, expiry.start, anchoring.start])
    internal = internal_app(runtime, [connected_app_router(platform, runtime, agent)])
    servers = [_server(admin, cfg.host, cfg.port),
               _server(internal, INTERNAL_HOST, cfg.internal_port)]
    print(f"OSP control plane on http://{cfg.host}:{cfg.port} (data dir {cfg.data_dir}); "
          "Ctrl-C stops it", flush=True)
    log.info("started", host=cfg.host, port=cfg.port, internal_port=cfg.internal_port)

    async def run_all() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_all())
    stop.set()
    stop_refresh()
    try:
        _anchor(platform)  # what happened since the last round is anchored too
    except Exception as exc:
        log.error("audit_anchor_failed", error=type(exc).__name__)
    log.info("stopped")
