"""Fixtures for real-Podman runtime tests.

Everything here lives under its own resource prefix (``osq``), address pool and nft table,
so a developer's running installation (prefix ``osp``) is never touched.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from osp.release.build import BuiltImage
from osp.runtime.api import create_internal_app
from osp.runtime.bootstrap import BootstrapService, MemoryTokenStore
from osp.runtime.interfaces import BackendUnavailable, ContainerSpec, Limits, State, TenantRuntime
from osp.runtime.podman import PodmanBackend, PodmanSettings
from osp.runtime.service import FixedImage
from osp.runtime.wiring import RuntimeParts, agent_image_builder, build_runtime, internal_app
from tests.prereqs import CONTAINER_TOOLS, require_root_and
from tests.slots import claim_slot, free_port

CACHE_DIR = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))



class SwitchApp:
    """One internal-API listener whose app a test can swap (memory-backed or Postgres-backed),
    because the firewall of the test installation allows exactly one internal port."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await self.app(scope, receive, send)


@dataclass
class InternalApi:
    port: int
    service: BootstrapService
    switch: SwitchApp
    memory_app: Any = None
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    audit: list[tuple[str | None, str, dict[str, object]]] = field(default_factory=list)
    holder: dict[str, PodmanBackend] = field(default_factory=dict)

    def events(self, action: str) -> list[tuple[str | None, str, dict[str, object]]]:
        return [e for e in self.audit if e[1] == action]

    def use_memory(self) -> None:
        self.switch.app = self.memory_app


@pytest.fixture(scope="session")
def agent_image() -> BuiltImage:
    require_root_and(*CONTAINER_TOOLS)
    return agent_image_builder(CACHE_DIR).build(reuse=True)


@pytest.fixture(scope="session")
def model_port() -> int:
    """Port of a host-local 'model endpoint' that only tenants allowed to may reach."""
    return free_port()


@pytest.fixture(scope="session")
def internal_api() -> Iterator[InternalApi]:
    secrets: dict[str, dict[str, str]] = {}
    audit: list[tuple[str | None, str, dict[str, object]]] = []
    service = BootstrapService(
        MemoryTokenStore(),
        secret_source=lambda tenant: secrets.get(tenant, {}),
        audit=lambda tenant, action, details: audit.append((tenant, action, dict(details))),
        runtime_key=os.urandom(32),
        ttl=timedelta(seconds=60),
    )
    api = InternalApi(port=free_port(), service=service, switch=SwitchApp(), secrets=secrets,
                      audit=audit)
    holder = api.holder

    def locate(tenant: str) -> str | None:
        backend = holder.get("backend")
        return backend.status(tenant).ip or None if backend else None

    def discard(tenant: str, instance_id: str) -> None:
        if "backend" in holder:
            holder["backend"].discard_bootstrap(tenant, instance_id)

    api.memory_app = create_internal_app(service, locate=locate, on_exchanged=discard)
    api.use_memory()
    # The internal API listens on all addresses, as in production: the firewall, not the
    # bind address, decides who reaches it.
    config = uvicorn.Config(api.switch, host="0.0.0.0", port=api.port, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield api
    server.should_exit = True
    thread.join(timeout=5)




def purge(backend: PodmanBackend) -> None:
    """Remove everything of this prefix (also what a crashed earlier session left)."""
    prefix = backend.settings.prefix
    for row in backend._json("ps", "-a", "--format", "json",
                             "--filter", f"label=osp.installation={prefix}") or []:
        backend._podman("rm", "-f", "--time", "1", row["Id"], check=False)
    for net in backend._networks():
        if (net.get("labels") or {}).get("osp.installation") == prefix:
            backend._podman("network", "rm", "-f", net["name"], check=False)
    backend._podman("volume", "prune", "-f", "--filter", f"label=osp.installation={prefix}",
                    check=False)
    backend.firewall.remove(backend.table)


@pytest.fixture(scope="session")
def backend(internal_api: InternalApi, model_port: int) -> Iterator[PodmanBackend]:
    require_root_and(*CONTAINER_TOOLS)
    prefix, pool, lock = claim_slot("osq", 214)
    settings = PodmanSettings(
        prefix=prefix,
        pool=pool,
        internal_api_port=internal_api.port,
        host_ports={"alpha": (model_port,)},
    )
    backend = PodmanBackend(settings)
    purge(backend)
    backend.prepare()
    internal_api.holder["backend"] = backend
    yield backend
    purge(backend)
    lock.close()


@dataclass
class Tenants:
    backend: PodmanBackend
    api: InternalApi
    image: BuiltImage

    def spec(self, tenant: str, limits: Limits | None = None) -> ContainerSpec:
        instance = uuid.uuid4().hex
        return ContainerSpec(
            tenant=tenant,
            image_id=self.image.image_id,
            governance_version=self.image.governance_version,
            instance_id=instance,
            bootstrap_token=self.api.service.issue(tenant, instance),
            limits=limits or Limits(),
        )

    def start(self, tenant: str, secrets: Mapping[str, str] | None = None) -> TenantRuntime:
        self.api.use_memory()
        self.api.secrets[tenant] = dict(secrets or {})
        self.backend.start(self.spec(tenant))
        return self.wait_healthy(tenant)

    def wait_healthy(self, tenant: str, timeout: float = 30) -> TenantRuntime:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rt = self.backend.status(tenant)
            if rt.agent_url:
                try:
                    if httpx.get(rt.agent_url + "/healthz", timeout=1).status_code == 200:
                        return rt
                except httpx.HTTPError:
                    pass
            elif rt.state.value == "stopped":
                raise AssertionError(f"{tenant} exited: {self.backend.logs(tenant)}")
            time.sleep(0.05)
        raise AssertionError(f"{tenant} not healthy: {self.backend.logs(tenant)}")

    def agent_status(self, tenant: str) -> dict[str, object]:
        rt = self.backend.status(tenant)
        key = self.api.service.status_key(rt.instance_id)
        response = httpx.get(rt.agent_url + "/status",
                             headers={"Authorization": f"Bearer {key}"}, timeout=5)
        response.raise_for_status()
        data: dict[str, object] = response.json()
        return data


@pytest.fixture(scope="session")
def tenants(backend: PodmanBackend, internal_api: InternalApi,
            agent_image: BuiltImage) -> Tenants:
    return Tenants(backend, internal_api, agent_image)


# -- control-plane level (real Postgres from tests/conftest.py) ----------------------------
class FakeBackend:
    """In-memory RuntimeBackend for control-plane tests that need no real containers."""

    def __init__(self) -> None:
        self.down = False
        self.running: dict[str, ContainerSpec] = {}
        self.stopped: dict[str, ContainerSpec] = {}
        self.discarded: list[str] = []
        self.prepared = 0
        self.ips: dict[str, str] = {}  # tenant -> the address its container would have

    def check(self) -> None:
        if self.down:
            raise BackendUnavailable("podman is not working: cannot connect to Podman")

    def prepare(self) -> None:
        self.check()
        self.prepared += 1

    def create(self, spec: ContainerSpec) -> TenantRuntime:
        self.check()
        self.stopped[spec.tenant] = spec
        return self.status(spec.tenant)

    def start(self, spec: ContainerSpec) -> TenantRuntime:
        self.check()
        self.stopped.pop(spec.tenant, None)
        self.running[spec.tenant] = spec
        return self.status(spec.tenant)

    def stop(self, tenant: str, timeout_s: int = 5) -> TenantRuntime:
        self.check()
        if tenant in self.running:
            self.stopped[tenant] = self.running.pop(tenant)
        return self.status(tenant)

    def restart(self, spec: ContainerSpec) -> TenantRuntime:
        return self.start(spec)

    def suspend(self, tenant: str) -> TenantRuntime:
        self.check()
        self.running.pop(tenant, None)
        self.stopped.pop(tenant, None)
        return self.status(tenant)

    def resume(self, spec: ContainerSpec) -> TenantRuntime:
        return self.start(spec)

    def remove(self, tenant: str, *, purge_data: bool = False) -> None:
        self.suspend(tenant)

    def status(self, tenant: str) -> TenantRuntime:
        self.check()
        spec = self.running.get(tenant) or self.stopped.get(tenant)
        if spec is None:
            return TenantRuntime(tenant=tenant, state=State.ABSENT)
        state = State.RUNNING if tenant in self.running else State.STOPPED
        return TenantRuntime(tenant=tenant, state=state, container_id="c" * 64,
                             instance_id=spec.instance_id, image_id=spec.image_id,
                             governance_version=spec.governance_version,
                             ip=self.ips.get(tenant, "") if state == State.RUNNING else "")

    def logs(self, tenant: str, tail: int = 100) -> str:
        return ""

    def list_tenants(self) -> list[TenantRuntime]:
        return [self.status(t) for t in [*self.running, *self.stopped]]

    def uninstall(self) -> list[str]:
        removed = [f"container {t}" for t in [*self.running, *self.stopped]]
        self.running.clear()
        self.stopped.clear()
        return removed

    def discard_bootstrap(self, tenant: str, instance_id: str) -> None:
        self.discarded.append(instance_id)


FAKE_IMAGE = FixedImage("sha256:" + "ab" * 32, "0.1.0")


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def fake_parts(platform: Any, fake_backend: FakeBackend) -> RuntimeParts:
    return build_runtime(platform, backend=fake_backend, images=FAKE_IMAGE)


@pytest.fixture
def podman_parts(platform: Any, backend: PodmanBackend, internal_api: InternalApi,
                 agent_image: BuiltImage) -> Iterator[RuntimeParts]:
    """The real thing: Postgres-backed tokens and vault, real containers, real firewall."""
    parts = build_runtime(platform, backend=backend,
                          images=FixedImage(agent_image.image_id,
                                            agent_image.governance_version))
    started_before = {rt.tenant for rt in backend.list_tenants()}
    internal_api.switch.app = internal_app(parts)
    yield parts
    internal_api.use_memory()
    for rt in backend.list_tenants():
        if rt.tenant not in started_before:
            backend.remove(rt.tenant, purge_data=True)
