"""Wire the runtime into the control plane, in one place (``build_runtime``).

What ``osp up`` does with it::

    parts = build_runtime(platform)
    report = parts.service.reconcile()             # before serving; prints orphans
    admin = create_app(platform, extra_routers=[billing_router(parts), tenant_router(parts)])
    internal = internal_app(parts)                  # second uvicorn server, internal_port
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import osp
from osp.errors import OspError
from osp.platform import Platform
from osp.runtime.bootstrap import BootstrapService
from osp.runtime.firewall import BlockedDestination
from osp.runtime.interfaces import RuntimeBackend
from osp.runtime.podman import PodmanBackend, PodmanSettings
from osp.runtime.service import ImageCheck, ImageSource, RuntimeService
from osp.runtime.store import PlatformSecrets, SqlAudit, SqlTokenStore, tenant_secrets

# FastAPI, the image builder, the release gate and the fleet are imported by the functions
# that use them: `osp tenant start|stop|status` builds the runtime in a fresh process and
# must not pay for the web framework and the build tooling (measured in
# docs/benchmarks.md, "`osp tenant start`").
if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from osp.release.build import ImageBuilder, Progress, ReleaseHook
    from osp.release.fleet_cli import ReleaseRuntime
    from osp.release.gate import ReleaseFiles
    from osp.release.manifest import KeyStore
    from osp.runtime.agent_auth import AgentAuthenticator

RUNTIME_KEY = "runtime_key"


@dataclass
class LocalImages:
    """The image built from exactly this OSP code; built (with progress) when there is none."""

    cache_dir: Path
    podman_bin: str = "podman"
    progress: Progress | None = None
    data_dir: Path | None = None  # with keys: builds are scanned and signed (release gates)
    keys: KeyStore | None = None

    def resolve(self) -> tuple[str, str]:
        from osp.release.build import BuildError
        from osp.release.gate import ReleaseFiles
        from osp.release.images import latest_image
        from osp.release.signed import SignedBuilds, manifest_store

        builder = agent_image_builder(self.cache_dir, self.podman_bin,
                                      ReleaseFiles.in_dir(self.data_dir / "release")
                                      if self.data_dir else None)
        try:
            if self.keys is not None and self.data_dir is not None:
                built, _ = SignedBuilds(builder, self.keys,
                                        manifest_store(self.data_dir)).build(self.progress,
                                                                             reuse=True)
            else:
                built = builder.build(self.progress, reuse=True)
        except BuildError as exc:
            # Cannot build here (not root, no debootstrap): an image of this version will do.
            found = latest_image(osp.__version__, self.podman_bin)
            if found is None:
                raise OspError(f"agent image unavailable: {exc}") from None
            return found.image_id, found.governance_version
        return built.image_id, built.governance_version

    def governance_of(self, image_id: str) -> str:
        from osp.release.manifest import ImageRefused, inspect_image

        try:
            labels = inspect_image(image_id, self.podman_bin).labels
        except ImageRefused:
            return ""  # gone: the start that follows says so
        return labels.get("osp.governance.version", "")


def agent_image_builder(cache_dir: Path, podman_bin: str = "podman",
                        release: ReleaseFiles | None = None,
                        overlay: ReleaseHook | None = None) -> ImageBuilder:
    """The builder every default path uses (``osp image build``, ``tenant start``, tests):
    the governed agent's run-time dependencies go in through their release hook, then the
    brand overlay (if any), then the blocking leak scan over the finished tree, last, so
    it also sees what the hooks before it added."""
    from osp.agent.imagedeps import InstallAgentDeps
    from osp.release.build import ImageBuilder
    from osp.release.gate import ReleaseFiles, ScanGate

    hooks: list[ReleaseHook] = [InstallAgentDeps(cache_dir)]
    if overlay is not None:
        hooks.append(overlay)
    hooks.append(ScanGate(release or ReleaseFiles()))
    return ImageBuilder(cache_dir, podman_bin, hooks=tuple(hooks))


def blocked_destinations(*urls: str | None) -> tuple[BlockedDestination, ...]:
    """An external database must be unreachable from tenants: block its addresses:port."""
    out: list[BlockedDestination] = []
    for url in urls:
        if not url:
            continue
        parts = urlsplit(url)
        if not parts.hostname or parts.hostname.startswith("/"):
            continue  # unix socket: nothing routable to block
        port = parts.port or 5432
        try:
            infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
        except OSError:
            continue
        for info in infos:
            addr = str(info[4][0])
            if ":" not in addr:
                out.append(BlockedDestination(f"{addr}/32", port))
    return tuple(dict.fromkeys(out))


def podman_settings(platform: Platform) -> PodmanSettings:
    cfg = platform.settings
    return PodmanSettings(
        prefix=cfg.runtime_prefix,
        pool=cfg.runtime_pool,
        internal_api_port=cfg.internal_port,
        blocked=blocked_destinations(cfg.database_url, cfg.admin_database_url),
        userns=cfg.runtime_userns,
    )


@dataclass
class RuntimeParts:
    backend: RuntimeBackend
    bootstrap: BootstrapService
    service: RuntimeService
    secrets: PlatformSecrets
    audit: SqlAudit
    internal_port: int = 8401


def build_runtime(platform: Platform, *, backend: RuntimeBackend | None = None,
                  images: ImageSource | None = None,
                  progress: Progress | None = None,
                  verifier: ImageCheck | None = None) -> RuntimeParts:
    engine = backend or PodmanBackend(podman_settings(platform))
    secrets = PlatformSecrets(platform.db, platform.vault)
    audit = SqlAudit(platform.db, platform.tenants, platform.audit, platform.unproven)
    bootstrap = BootstrapService(
        SqlTokenStore(platform.db, platform.tenants),
        secret_source=lambda tenant: tenant_secrets(platform.db, platform.tenants,
                                                    platform.vault, tenant),
        audit=audit,
        runtime_key=secrets.get_or_create(RUNTIME_KEY),
        ttl=timedelta(seconds=60),
    )
    data_dir = platform.settings.data_dir
    if images is None:
        # Production path: images are built, scanned and signed here, and nothing starts
        # unless its signed manifest verifies. A caller that injects its own image source
        # (tests, benchmarks) vouches for it, unless it passes a verifier too.
        from osp.release.signed import verifier_for

        images = LocalImages(data_dir / "cache", progress=progress, data_dir=data_dir,
                             keys=secrets)
        verifier = verifier or verifier_for(data_dir, secrets)
    service = RuntimeService(platform.db, platform.tenants, platform.audit, engine, images,
                             bootstrap, verifier=verifier)
    return RuntimeParts(engine, bootstrap, service, secrets, audit,
                        platform.settings.internal_port)


def release_parts(platform: Platform, parts: RuntimeParts,
                  require_control_plane: Callable[[], None] = lambda: None
                  ) -> ReleaseRuntime | None:
    """What snapshots and fleet upgrades drive (None without podman or image verification)."""
    from osp.release.fleet_cli import ReleaseRuntime
    from osp.release.manifest import ManifestVerifier

    verifier = parts.service.verifier
    if not isinstance(parts.backend, PodmanBackend) or not isinstance(verifier,
                                                                      ManifestVerifier):
        return None
    return ReleaseRuntime(parts.service, parts.backend, verifier, parts.audit,
                          platform.tenants.list,
                          platform.settings.data_dir, require_control_plane)


def recover_fleet(platform: Platform, parts: RuntimeParts) -> str | None:
    """``osp up``, before reconcile: finish an upgrade a killed process left mid-wave."""
    from osp.release.fleet_cli import fleet_of

    rt = release_parts(platform, parts)
    if rt is None:
        return None
    try:
        upgrade = fleet_of(rt, wait_rollback=False).recover()
    except OspError as exc:
        return f"warning: could not recover the interrupted fleet upgrade: {exc.message}"
    if upgrade is None:
        return None
    back = [s.tenant for s in upgrade.steps if s.phase in ("rolled_back", "failed")]
    return (f"fleet upgrade {upgrade.id} was interrupted: halted; rolled back "
            f"{', '.join(back) or 'nobody'}")


def internal_app(parts: RuntimeParts, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The internal listener's app; ``routers`` are routes for booted agents (they take
    :func:`agent_authenticator`'s answer as the caller's tenant)."""
    from osp.runtime.api import create_internal_app

    def locate(tenant: str) -> str | None:
        return parts.backend.status(tenant).ip or None

    return create_internal_app(parts.bootstrap, locate=locate,
                               on_exchanged=parts.backend.discard_bootstrap, routers=routers)


def agent_authenticator(platform: Platform, parts: RuntimeParts,
                        cache_s: float = 2.0) -> AgentAuthenticator:
    from osp.runtime.agent_auth import AgentAuthenticator

    return AgentAuthenticator(parts.bootstrap, parts.backend,
                              lambda name: platform.tenants.get(name).id, parts.audit, cache_s)


def billing_router(parts: RuntimeParts) -> APIRouter:
    from osp.runtime.billing import build_billing_router

    return build_billing_router(parts.service, parts.secrets, parts.audit)


def tenant_router(parts: RuntimeParts) -> APIRouter:
    from osp.runtime.user_api import build_tenant_runtime_router

    return build_tenant_runtime_router(parts.service)
