"""Builds the broker from a Platform and the background refresh job for `osp up`."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from osp.oauth.refresh import run_refresh_job
from osp.oauth.service import OAuthBroker
from osp.platform import Platform

REFRESH_INTERVAL = 60.0


# Development and tests only: lets operators register authorization servers on loopback
# (plain http included). Off by default, because the control plane calls those servers.
ALLOW_LOOPBACK_ENV = "OSP_OAUTH_ALLOW_LOOPBACK"


def make_broker(platform: Platform) -> OAuthBroker:
    return OAuthBroker(platform.db, platform.vault, platform.audit,
                       allow_loopback=os.environ.get(ALLOW_LOOPBACK_ENV) == "1")


def refresh_job_hook(platform: Platform, *, interval: float = REFRESH_INTERVAL
                     ) -> tuple[Callable[[], None], Callable[[], None]]:
    """Returns (start, stop) for the background refresh thread; start fits create_app's
    ``on_startup``. The thread is a daemon, so a process exit never waits for it."""
    stop_event = threading.Event()
    state: dict[str, threading.Thread] = {}

    def start() -> None:
        if "thread" in state:
            return
        broker = make_broker(platform)

        def loop() -> None:
            try:
                run_refresh_job(broker, stop=stop_event, interval=interval)
            finally:
                broker.close()

        state["thread"] = threading.Thread(target=loop, name="oauth-refresh", daemon=True)
        state["thread"].start()

    def stop() -> None:
        stop_event.set()
        if "thread" in state:
            state["thread"].join(timeout=30)

    return start, stop
