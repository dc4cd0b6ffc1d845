"""Fixtures for real-Podman runtime tests.

Everything here lives under its own resource prefix (``osq``), address pool and nft table,
so a developer's running installation (prefix ``osp``) is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from osp.release.build import BuiltImage, ImageBuilder
from osp.runtime.api import create_internal_app
from osp.runtime.bootstrap import BootstrapService, MemoryTokenStore
from osp.runtime.interfaces import ContainerSpec, Limits, TenantRuntime
from osp.runtime.podman import PodmanBackend, PodmanSettings

TEST_PREFIX = "osq"
TEST_POOL = "10.214.0.0/16"
CACHE_DIR = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))


def podman_usable() -> bool:
    return os.geteuid() == 0 and shutil.which("podman") is not None and \
        shutil.which("debootstrap") is not None and shutil.which("nft") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


@dataclass
class InternalApi:
    port: int
    service: BootstrapService
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    audit: list[tuple[str | None, str, dict[str, object]]] = field(default_factory=list)

    def events(self, action: str) -> list[tuple[str | None, str, dict[str, object]]]:
        return [e for e in self.audit if e[1] == action]


@pytest.fixture(scope="session")
def agent_image() -> BuiltImage:
    if not podman_usable():
        pytest.skip("needs root, podman, debootstrap and nft")
    return ImageBuilder(cache_dir=CACHE_DIR).build()


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
    api = InternalApi(port=free_port(), service=service, secrets=secrets, audit=audit)
    holder: dict[str, PodmanBackend] = {}

    def locate(tenant: str) -> str | None:
        backend = holder.get("backend")
        return backend.status(tenant).ip or None if backend else None

    def discard(tenant: str, instance_id: str) -> None:
        if "backend" in holder:
            holder["backend"].discard_bootstrap(tenant, instance_id)

    app = create_internal_app(service, locate=locate, on_exchanged=discard)
    # The internal API listens on all addresses, as in production: the firewall, not the
    # bind address, decides who reaches it.
    config = uvicorn.Config(app, host="0.0.0.0", port=api.port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    api.holder = holder  # type: ignore[attr-defined]
    yield api
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def backend(internal_api: InternalApi, model_port: int) -> Iterator[PodmanBackend]:
    if not podman_usable():
        pytest.skip("needs root, podman, debootstrap and nft")
    settings = PodmanSettings(
        prefix=TEST_PREFIX,
        pool=TEST_POOL,
        internal_api_port=internal_api.port,
        host_ports={"alpha": (model_port,)},
    )
    backend = PodmanBackend(settings)
    internal_api.holder["backend"] = backend  # type: ignore[attr-defined]
    yield backend
    for rt in backend.list_tenants():
        backend.remove(rt.tenant, purge_data=True)
    for net in backend._networks():
        if (net.get("labels") or {}).get("osp.installation") == TEST_PREFIX:
            backend._podman("network", "rm", "-f", net["name"])
    backend._podman("volume", "prune", "-f", "--filter", f"label=osp.installation={TEST_PREFIX}")
    backend.firewall.remove(backend.table)


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
