"""The composition root: the one place where OSP's services, brokers, backends, routers and
background jobs are built from :class:`~osp.config.Settings` and wired together.

Edges use it and nothing else does: ``osp.cli`` opens an :class:`App` per command, ``osp up``
serves :meth:`App.admin_app` and :meth:`App.internal_app`. Feature packages expose builders
(``build_runtime``, ``build_*_router``, ``register`` for CLI groups) that only this package
calls. Parts are built on first use, so a command that needs no container engine never
touches one, and each part is built once per process (one OAuth broker, one runtime).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from osp.app.jobs import Job
from osp.config import Settings
from osp.errors import OspError
from osp.platform import Platform, open_platform

# Everything else is imported where it is used: a CLI command that only lists tenants must
# not pay for FastAPI, the gateway, the console and the governance engine (about 1.2 s of
# imports, measured with `python -X importtime`).
if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from osp.app.agent import AgentParts
    from osp.gateway.interfaces import AgentLocator, AgentTransport
    from osp.gateway.service import GatewayOptions
    from osp.oauth.service import OAuthBroker
    from osp.release.build import ImageBuilder, Progress, ReleaseHook
    from osp.release.fleet_cli import ReleaseRuntime
    from osp.release.gate import ReleaseFiles
    from osp.runtime.interfaces import RuntimeBackend
    from osp.runtime.service import ImageSource
    from osp.runtime.store import PlatformSecrets
    from osp.runtime.wiring import RuntimeParts
    from osp.tenancy.service import TenantInfo
    from osp.vault.rotation import Rewrapper, RotationReport

__all__ = ["App", "Job", "core_routers", "open_app"]

APPROVAL_EXPIRY_INTERVAL_S = 60.0
AUDIT_ANCHOR_INTERVAL_S = 60.0
OAUTH_REFRESH_INTERVAL_S = 60.0
MESSAGE_RETENTION_INTERVAL_S = 3600.0
MESSAGE_RECOVERY_INTERVAL_S = 10.0
# A message untouched this long in "queued"/"delivering", and no turn of this process on it,
# was orphaned (e.g. its outcome arrived while the database was down).
MESSAGE_STALE_S = 20.0


def require_control_plane(port: int) -> None:
    """One line when nothing answers on the control plane's internal port (see
    :meth:`App.require_control_plane`)."""
    import httpx

    try:
        httpx.get(f"http://127.0.0.1:{port}/internal/v1/healthz", timeout=2).raise_for_status()
    except httpx.HTTPError:
        raise OspError(f"the control plane is not running (no internal API on port {port}): "
                       "start `osp up` first") from None


def core_routers() -> list[APIRouter]:
    """The admin API's routes that need no runtime (explicit, in a fixed order)."""
    from osp.audit.api import router as audit_router
    from osp.identity.api import router as identity_router
    from osp.oauth.api import router as oauth_router
    from osp.tenancy.api import router as tenancy_router
    from osp.vault.api import router as vault_router

    return [identity_router, tenancy_router, vault_router, audit_router, oauth_router]


class App:
    """Everything one OSP process runs, over one :class:`Platform` (database and core
    services). Tests swap parts through the keyword arguments."""

    def __init__(self, platform: Platform, *, backend: RuntimeBackend | None = None,
                 images: ImageSource | None = None, progress: Progress | None = None,
                 locator: AgentLocator | None = None, transport: AgentTransport | None = None,
                 gateway_options: GatewayOptions | None = None,
                 agent_auth_cache_s: float = 2.0) -> None:
        self.platform = platform
        self.settings: Settings = platform.settings
        self._backend, self._images, self._progress = backend, images, progress
        self._locator, self._transport = locator, transport
        self._gateway_options = gateway_options
        self._agent_auth_cache_s = agent_auth_cache_s

    @cached_property
    def runtime(self) -> RuntimeParts:
        from osp.runtime.wiring import build_runtime

        return build_runtime(self.platform, backend=self._backend, images=self._images,
                             progress=self._progress)

    @cached_property
    def agent(self) -> AgentParts:
        from osp.app.agent import build_agent

        runtime = None if self._locator is not None else self.runtime
        return build_agent(self.platform, runtime, locator=self._locator,
                           transport=self._transport, options=self._gateway_options)

    @cached_property
    def broker(self) -> OAuthBroker:
        from osp.oauth.service import OAuthBroker

        # One broker per process: its HTTP client costs ~20 ms to build (TLS context).
        return OAuthBroker(self.platform.db, self.platform.vault, self.platform.audit,
                           allow_loopback=self.settings.oauth_allow_loopback)

    # -- release (osp image build|list, osp release, osp snapshot, osp fleet) -----------
    def release_keys(self) -> PlatformSecrets:
        """Where the release signing key is sealed: the vault's platform secrets."""
        from osp.runtime.store import PlatformSecrets

        return PlatformSecrets(self.platform.db, self.platform.vault)

    def image_builder(self, cache_dir: Path, files: ReleaseFiles,
                      overlay: ReleaseHook | None = None) -> ImageBuilder:
        from osp.runtime.wiring import agent_image_builder

        return agent_image_builder(cache_dir, release=files, overlay=overlay)

    def require_control_plane(self) -> None:
        """Agents fetch their secrets from the running control plane's internal API at boot:
        without `osp up` a start could only time out, so say so at once."""
        require_control_plane(self.runtime.internal_port)

    def release(self) -> ReleaseRuntime:
        """What snapshots and fleet upgrades drive: this runtime, with image verification."""
        from osp.runtime.wiring import release_parts

        parts = release_parts(self.platform, self.runtime, self.require_control_plane)
        if parts is None:
            raise OspError("snapshots and fleet upgrades need the podman backend")
        parts.smoke = self.smoke_check
        return parts

    def smoke_check(self, mode: str) -> Callable[[TenantInfo], str | None]:
        """The fleet health gate's governed smoke message, sent through this gateway."""
        from osp.release.smoke import SMOKE_PATH, GovernedSmoke, gateway_sender

        send = gateway_sender(self.agent.gateway)
        return GovernedSmoke(send, mode, f"http://osp-host:{self.settings.internal_port}"
                                         f"{SMOKE_PATH}/v1")

    def operator_socket(self) -> AbstractContextManager[Path | None]:
        """`osp tenant start|stop|restart|status` through this process (osp.runtime.operator)."""
        from osp.runtime.operator import Operations, serving
        from osp.terminal import tenant_arg

        return serving(self.settings.data_dir, Operations(
            self.runtime.service, lambda name: tenant_arg(self.platform, name),
            self.model_endpoint_problems))

    def model_endpoint_problems(self, info: TenantInfo) -> list[str]:
        """Why the tenant's agent could not reach its model, each with its fix (the model
        URL against the tenant's allowed host ports and what listens there)."""
        from osp.gateway.settings import AgentSettings
        from osp.runtime.reach import model_endpoint_problems
        from osp.runtime.store import RuntimeStateRepo

        config = AgentSettings(self.platform.db, self.platform.audit).get(info.id)
        ports = RuntimeStateRepo(self.platform.db).get(info.id).host_ports
        return model_endpoint_problems(info.name, config.model.base_url, ports)

    def kek_rewrappers(self) -> list[Rewrapper]:
        """Everything sealed under the KEK outside ``secret_versions``, re-sealed on
        rotation."""
        from osp.gateway.protect import MessageProtection
        from osp.oauth.store import SealedStore

        return [self.platform.identity.rewrap_totp, SealedStore(self.platform.vault).rewrap_tenant,
                MessageProtection(self.platform.db, self.platform.vault,
                                  self.platform.audit).rewrap_tenant]

    def rotate_kek(self, actor: str) -> RotationReport:
        from osp.runtime.store import PlatformSecrets
        from osp.vault.rotation import rotate_kek

        p = self.platform
        return rotate_kek(p.db, p.vault, p.tenants, p.audit, actor, self.kek_rewrappers(),
                          [PlatformSecrets(p.db, p.vault).rewrap_all, p.operators.rewrap_all])

    def anchor_trails(self) -> None:
        from osp.audit.anchor import AnchorFile, anchor_all

        anchor_all(self.platform.db, AnchorFile(self.settings.anchor_path),
                   [t.id for t in self.platform.tenants.list()])

    def refresh_tokens(self) -> None:
        from osp.oauth.refresh import refresh_due

        refresh_due(self.broker, [t.id for t in self.platform.tenants.list()])

    def expire_messages(self) -> int:
        """Every tenant's messages past its retention period, deleted and audited."""
        protection = self.agent.gateway.protection
        return sum(protection.expire(t.id) for t in self.platform.tenants.list())

    def recover_messages(self) -> None:
        """Every tenant's orphaned messages delivered again (see GatewayService.recover)."""
        gateway = self.agent.gateway
        for tenant in self.platform.tenants.list():
            gateway.recover(tenant, stale_s=MESSAGE_STALE_S)

    def jobs(self) -> list[Job]:
        """The background jobs of ``osp up``, in a fixed order."""
        return [
            Job("oauth_refresh", OAUTH_REFRESH_INTERVAL_S, self.refresh_tokens),
            Job("approval_expiry", APPROVAL_EXPIRY_INTERVAL_S, self.agent.approvals.expire_all),
            # What happened since the last round is anchored at shutdown too.
            Job("audit_anchor", AUDIT_ANCHOR_INTERVAL_S, self.anchor_trails, at_stop=True),
            Job("message_retention", MESSAGE_RETENTION_INTERVAL_S, self.expire_messages),
            Job("message_recovery", MESSAGE_RECOVERY_INTERVAL_S, self.recover_messages),
        ]

    def admin_app(self, *, with_jobs: bool = True) -> FastAPI:
        from osp.app.agent import agent_routers
        from osp.app.jobs import JobRunner, lifespan
        from osp.console import ConsoleServices, build_console
        from osp.runtime.wiring import billing_router, tenant_router
        from osp.web.app import create_app

        routers = [*core_routers(), billing_router(self.runtime), tenant_router(self.runtime),
                   *agent_routers(self.agent)]
        runner = JobRunner(self.jobs() if with_jobs else ())
        app = create_app(self.platform, routers, lifespan=lifespan(runner))
        app.state.oauth_broker = self.broker
        # The web console: the same services (and so the same rules) as the routes above.
        app.mount("/console", build_console(ConsoleServices(
            self.platform, self.agent.gateway, self.agent.approvals, self.runtime.service,
            self.broker)))
        return app

    def internal_app(self) -> FastAPI:
        from osp.app.agent import connected_app_router, scoring_router
        from osp.release.smoke import smoke_model_router
        from osp.runtime.wiring import internal_app

        return internal_app(self.runtime, [
            connected_app_router(self.platform, self.runtime, self.agent, self.broker,
                                 cache_s=self._agent_auth_cache_s),
            scoring_router(self.platform, self.runtime, self.agent,
                           cache_s=self._agent_auth_cache_s),
            smoke_model_router()])

    def close(self) -> None:
        if "broker" in self.__dict__:
            self.broker.close()


@contextmanager
def open_app(settings: Settings, *, run_migrations: bool | None = None,
             progress: Progress | None = None) -> Iterator[App]:
    """Opens the platform (see :func:`~osp.platform.open_platform`) and the app over it."""
    with open_platform(settings, run_migrations=run_migrations) as platform:
        app = App(platform, progress=progress)
        try:
            yield app
        finally:
            app.close()
