"""Serves the admin API (and, when present, the internal API) with uvicorn until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib

import uvicorn

from osp.logs import get_logger
from osp.platform import Platform
from osp.web.app import create_app

log = get_logger("osp.up")


def serve(platform: Platform) -> None:
    cfg = platform.settings
    app = create_app(platform)
    servers = [uvicorn.Server(uvicorn.Config(app, host=cfg.host, port=cfg.port,
                                             log_config=None, access_log=False))]
    print(f"OSP control plane on http://{cfg.host}:{cfg.port} (data dir {cfg.data_dir}); "
          "Ctrl-C stops it", flush=True)
    log.info("started", host=cfg.host, port=cfg.port)

    async def run_all() -> None:
        await asyncio.gather(*(s.serve() for s in servers))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_all())
    log.info("stopped")
