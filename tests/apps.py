"""The admin API as the composition root assembles it, over a test platform, with only the
feature routers a test names (no background jobs, no container engine)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from osp.app import core_routers
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.web.app import create_app


def admin_app(platform: Platform, *routers: APIRouter) -> FastAPI:
    app = create_app(platform, [*core_routers(), *routers])
    # The test OpenID provider listens on loopback.
    app.state.oauth_broker = OAuthBroker(platform.db, platform.vault, platform.audit,
                                         allow_loopback=True)
    return app
