"""Tenant lifecycle: desired state in Postgres, the engine behind RuntimeBackend.

Order of work in every operation (the tenant arrives resolved, as a TenantInfo from the edge):
ask the engine whether
it answers (so a missing or broken engine changes nothing), act on the engine, and only
then record the new desired state and audit it. Suspension is the exception, on purpose:
it is recorded first, so a cancelled subscription stays suspended even if the engine fails
half-way (fail closed).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ParamSpec, Protocol, TypeVar

import httpx

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import Conflict, Forbidden, NotFound, OspError, Unavailable
from osp.runtime.bootstrap import BootstrapService
from osp.runtime.interfaces import (
    ContainerSpec,
    HostAllow,
    Limits,
    RuntimeBackend,
    RuntimeBackendError,
    State,
    TenantRuntime,
)
from osp.runtime.store import DesiredState, RuntimeStateRepo
from osp.tenancy.service import TenantInfo, TenantService

P = ParamSpec("P")
R = TypeVar("R")
STATE_EVERY_S = 1.0  # how often a start waiting for health re-reads the container state


class EngineError(Unavailable):
    """The engine failed or is unavailable; one line, state unchanged."""


class ImageSource(Protocol):
    def resolve(self) -> tuple[str, str]:
        """(image digest ``sha256:...``, governance version); may build the image first."""

    def governance_of(self, image_id: str) -> str:
        """The governance version an existing image carries ('' when unknown)."""


class VerifiedImage(Protocol):
    @property
    def governance_version(self) -> str:
        """The governance version the verified image carries (its signed manifest's)."""


class ImageCheck(Protocol):
    def verify(self, reference: str) -> VerifiedImage:
        """Raise an OspError when this image must not run (e.g. its signature fails)."""


@dataclass(frozen=True)
class FixedImage:
    image_id: str
    governance_version: str

    def resolve(self) -> tuple[str, str]:
        return self.image_id, self.governance_version

    def governance_of(self, image_id: str) -> str:
        return self.governance_version if image_id == self.image_id else ""


@dataclass
class TenantStatus:
    tenant: str
    tenant_state: str  # active | suspended (the registry's word)
    desired: str  # running | stopped
    state: str  # what the engine sees
    container_id: str = ""
    instance_id: str = ""
    image_digest: str = ""
    governance_version: str = ""
    image_pinned: str = ""  # the image its runtime record names: what its next start runs
    ip: str = ""
    uptime_s: float | None = None
    secrets: list[str] | None = None  # names the running agent loaded; never values

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ReconcileReport:
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)


def _engine(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn engine errors into one-line OspErrors (CLI exit 1, HTTP 503)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except RuntimeBackendError as exc:
            raise EngineError(str(exc)) from None

    return wrapper


class RuntimeService:
    def __init__(self, db: Database, tenants: TenantService, audit: AuditTrail,
                 backend: RuntimeBackend, images: ImageSource, bootstrap: BootstrapService,
                 health_timeout_s: float = 30.0, verifier: ImageCheck | None = None) -> None:
        self.db = db
        self.tenants = tenants
        self.audit = audit
        self.backend = backend
        self.images = images
        self.bootstrap = bootstrap
        self.repo = RuntimeStateRepo(db)
        self.health_timeout_s = health_timeout_s
        self.verifier = verifier

    # -- helpers -------------------------------------------------------------------------
    def _record(self, info: TenantInfo, actor: str, kind: str, **details: object) -> None:
        with self.db.tenant(info.id) as s:
            self.audit.record(s, info.id, actor, kind, dict(details))

    def _refuse_if_suspended(self, info: TenantInfo, actor: str, operator: bool) -> None:
        if info.state != "suspended":
            return
        self._record(info, actor, "runtime.start_refused", reason="suspended")
        if operator:
            raise Conflict(f"tenant {info.name!r} is suspended: use `osp tenant resume`")
        # Users of a suspended tenant cannot start it; only an operator's resume can.
        raise Forbidden(f"tenant {info.name!r} is suspended")

    def _launch(self, info: TenantInfo, actor: str, kind: str, wait: bool,
                image: tuple[str, str] | None = None) -> TenantStatus:
        self.backend.check()  # before any change: a missing engine leaves state as it was
        want = self.repo.get(info.id)
        governance: str | None
        if image is not None:
            image_id, governance = image
        elif want.image_id:
            # Pinned: a tenant runs the image its runtime record names (its first start, or
            # where a fleet upgrade or rollback moved it), never silently the newest build.
            image_id, governance = want.image_id, None
        else:
            image_id, governance = self.images.resolve()
        verified = self._verify(info, actor, image_id)
        if governance is None:
            # A verified manifest names the governance version the image's label carries
            # (the verifier checked they match): no second look at the image.
            governance = verified.governance_version if verified is not None else \
                self.images.governance_of(image_id)
        instance = uuid.uuid4().hex
        token = self.bootstrap.issue(info.name, instance)
        spec = ContainerSpec(
            tenant=info.name, image_id=image_id, governance_version=governance,
            instance_id=instance, bootstrap_token=token,
            limits=Limits(memory_mb=want.memory_mb, cpus=want.cpus, pids=want.pids),
            host_ports=want.host_ports,
        )
        try:
            runtime = self.backend.start(spec)
        except Exception:
            self.bootstrap.revoke(info.name, instance)
            raise
        if want.instance_id and want.instance_id != instance:
            # The instance this one replaced: its token (if it was never traded) dies with it.
            self.backend.discard_bootstrap(info.name, want.instance_id)
            self.bootstrap.revoke(info.name, want.instance_id)
        self.repo.set(info.id, desired="running", instance_id=instance, image_id=image_id)
        self._record(info, actor, kind, instance_id=instance, image_digest=image_id,
                     governance_version=governance)
        if wait:
            runtime = self._wait_healthy(info.name, runtime)
            # Healthy just now: the engine's view is the one the start returned (no second
            # inspect); /status is still asked, for the secret names the agent loaded.
            return self._status_of(info, self.repo.get(info.id), runtime)
        return self.status(info)

    def _verify(self, info: TenantInfo, actor: str, image_id: str) -> VerifiedImage | None:
        if self.verifier is None:
            return None
        try:
            return self.verifier.verify(image_id)  # before a token exists or anything changes
        except OspError as exc:
            self._record(info, actor, "runtime.start_refused", reason="image_unverified",
                         image_digest=image_id, detail=exc.message)
            raise

    def pin(self, info: TenantInfo, actor: str, image_id: str,
            kind: str = "runtime.image_pinned") -> None:
        """Record the image the tenant's next start runs, without starting it (a fleet
        upgrade or rollback of a stopped or suspended tenant). Verified like a start."""
        self._verify(info, actor, image_id)
        self.repo.set(info.id, image_id=image_id)
        self._record(info, actor, kind, image_digest=image_id)

    def _wait_healthy(self, tenant: str, runtime: TenantRuntime) -> TenantRuntime:
        deadline = time.monotonic() + self.health_timeout_s
        read = time.monotonic()  # the engine's state was read by the start that just ran
        # One client for every poll: building one per request costs ~20 ms (TLS context),
        # CPU taken from the agent booting next to it.
        with httpx.Client(timeout=1, trust_env=False) as client:
            while time.monotonic() < deadline:
                # The health endpoint is polled every 50 ms; the engine (an inspect costs
                # more than the poll interval) only every STATE_EVERY_S, to notice an agent
                # that exited instead of booting, and while the address is not known yet.
                if not runtime.agent_url or time.monotonic() - read >= STATE_EVERY_S:
                    runtime, read = self.backend.status(tenant), time.monotonic()
                    if runtime.state == State.STOPPED:
                        break
                if runtime.agent_url:
                    try:
                        if client.get(runtime.agent_url + "/healthz").status_code == 200:
                            # Traded (or never will be): the token file is wiped either way.
                            self.backend.discard_bootstrap(tenant, runtime.instance_id)
                            return runtime
                    except httpx.HTTPError:
                        pass
                time.sleep(0.05)
        self.backend.discard_bootstrap(tenant, runtime.instance_id)
        self.bootstrap.revoke(tenant, runtime.instance_id)
        last = (self.backend.logs(tenant, tail=5).strip().splitlines() or ["no output"])[-1]
        raise EngineError(f"agent of {tenant!r} did not become healthy: {last[:200]}")

    def _agent_status(self, runtime: TenantRuntime) -> dict[str, Any] | None:
        if runtime.state != State.RUNNING or not runtime.agent_url:
            return None
        key = self.bootstrap.status_key(runtime.instance_id)
        try:
            # trust_env=False: the per-instance key never goes through an environment proxy.
            response = httpx.get(runtime.agent_url + "/status", timeout=2, trust_env=False,
                                 headers={"Authorization": f"Bearer {key}"})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        data: dict[str, Any] = response.json()
        return data

    # -- operations ----------------------------------------------------------------------
    @_engine
    def start(self, info: TenantInfo, actor: str, *, operator: bool = True,
              wait: bool = True) -> TenantStatus:
        self._refuse_if_suspended(info, actor, operator)
        return self._launch(info, actor, "runtime.started", wait)

    @_engine
    def restart(self, info: TenantInfo, actor: str, *, operator: bool = True,
                wait: bool = True) -> TenantStatus:
        """A new instance with a fresh token: rotated secrets are loaded, old ones die."""
        self._refuse_if_suspended(info, actor, operator)
        return self._launch(info, actor, "runtime.restarted", wait)

    @_engine
    def start_image(self, info: TenantInfo, actor: str, image_id: str,
                    governance_version: str, *, kind: str = "runtime.started",
                    wait: bool = True) -> TenantStatus:
        """Start (or replace) the tenant's agent on a given image (fleet upgrades)."""
        self._refuse_if_suspended(info, actor, operator=True)
        return self._launch(info, actor, kind, wait, image=(image_id, governance_version))

    @_engine
    def stop(self, info: TenantInfo, actor: str) -> TenantStatus:
        self.backend.check()
        try:
            self.backend.stop(info.name)
        except NotFound:
            pass
        except RuntimeBackendError as exc:
            if "no container" not in str(exc):
                raise
        self.repo.set(info.id, desired="stopped")
        self._record(info, actor, "runtime.stopped")
        return self.status(info)

    @_engine
    def suspend(self, info: TenantInfo, actor: str, reason: str) -> TenantStatus:
        self.backend.check()
        info = self.tenants.set_state(info.id, "suspended", actor, reason)
        self.backend.suspend(info.name)
        self._record(info, actor, "runtime.suspended", reason=reason)
        return self.status(info)

    @_engine
    def resume(self, info: TenantInfo, actor: str, reason: str, *,
               wait: bool = True) -> TenantStatus:
        self.backend.check()
        info = self.tenants.set_state(info.id, "active", actor, reason)
        return self._launch(info, actor, "runtime.resumed", wait)

    @_engine
    def status(self, info: TenantInfo) -> TenantStatus:
        return self._status_of(info, self.repo.get(info.id), self.backend.status(info.name))

    def _status_of(self, info: TenantInfo, want: DesiredState,
                   runtime: TenantRuntime) -> TenantStatus:
        agent = self._agent_status(runtime)
        return TenantStatus(
            tenant=info.name, tenant_state=info.state, desired=want.desired,
            state=runtime.state.value, container_id=runtime.container_id[:12],
            instance_id=runtime.instance_id, image_digest=runtime.image_id,
            governance_version=runtime.governance_version, image_pinned=want.image_id or "",
            ip=runtime.ip,
            uptime_s=float(agent["uptime_s"]) if agent else None,
            secrets=[str(n) for n in agent["secrets"]] if agent else None,
        )

    def set_limits(self, info: TenantInfo, actor: str, *, memory_mb: int | None = None,
                   cpus: float | None = None, pids: int | None = None,
                   host_ports: tuple[int, ...] | None = None) -> None:
        """Per-tenant plan; applied at the next start."""
        want = self.repo.get(info.id)
        limits = Limits(memory_mb=memory_mb or want.memory_mb, cpus=cpus or want.cpus,
                        pids=pids or want.pids)  # validates
        ports = host_ports if host_ports is not None else want.host_ports
        for port in ports:
            HostAllow(port)  # validates
        self.repo.set(info.id, memory_mb=limits.memory_mb, cpus=limits.cpus, pids=limits.pids,
                      host_ports=list(ports))
        self._record(info, actor, "runtime.limits", memory_mb=limits.memory_mb,
                     cpus=limits.cpus, pids=limits.pids, host_ports=list(ports))

    @_engine
    def reconcile(self, actor: str = "system:reconcile") -> ReconcileReport:
        """Bring the engine in line with Postgres (``osp up`` calls this on start)."""
        report = ReconcileReport()
        self.backend.prepare()  # network policy first: nothing runs unpoliced
        known = set()
        for info in self.tenants.list():
            known.add(info.name)
            want = self.repo.get(info.id)
            runtime = self.backend.status(info.name)
            should_run = info.state == "active" and want.desired == "running"
            try:
                if should_run and runtime.state != State.RUNNING:
                    self._launch(info, actor, "runtime.reconciled", wait=False)
                    report.started.append(info.name)
                elif not should_run and runtime.state == State.RUNNING:
                    if info.state == "suspended":
                        self.backend.suspend(info.name)
                    else:
                        self.backend.stop(info.name)
                    report.stopped.append(info.name)
            except (OspError, RuntimeBackendError) as exc:
                report.failed[info.name] = str(exc)
        report.orphans = sorted(rt.tenant for rt in self.backend.list_tenants()
                                if rt.tenant not in known)
        return report
