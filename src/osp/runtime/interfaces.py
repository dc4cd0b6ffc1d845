"""Engine-neutral runtime contract: what the control plane needs from a container engine.

Podman implements it today (``podman.py``); a Kubernetes backend of a later issue
implements the same Protocol, so the lifecycle service never names an engine.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from osp.checks.names import tenant_name_problem


class RuntimeBackendError(Exception):
    """Base class; ``str(exc)`` is a one-line message fit for a CLI."""


class BackendUnavailable(RuntimeBackendError):
    """The engine is missing or not answering. Nothing was changed."""


class InvalidTenantName(RuntimeBackendError, ValueError):
    pass


class NotFound(RuntimeBackendError):
    """No runtime resources exist for the tenant."""


class OperationFailed(RuntimeBackendError):
    """The engine refused or failed an operation."""


def validate_tenant_name(name: str) -> str:
    # The name becomes part of container, network and volume names: the one tenant-name rule
    # (osp.checks.names, the tenants table's constraint too) is checked again here.
    problem = tenant_name_problem(name)
    if problem is not None:
        raise InvalidTenantName(problem)
    return name


class State(enum.StrEnum):
    """What the engine observes (the *desired* state lives in Postgres)."""

    ABSENT = "absent"  # no container
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"  # exited or stopped
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Limits:
    """Per-tenant resource ceilings; defaults suit an idle-heavy fleet on a small host."""

    memory_mb: int = 256
    cpus: float = 0.5
    pids: int = 64
    nofile: int = 1024
    # RLIMIT_NPROC counts every process of the agent's *host* UID, and all tenant containers
    # share that UID (10001): a low value would let one tenant's threads stop every other
    # tenant from starting (EAGAIN on exec). The per-tenant ceiling is ``pids`` (a cgroup);
    # this only has to be set explicitly (the VM's default cannot be raised from inside).
    nproc: int = 32768
    tmp_mb: int = 16

    def __post_init__(self) -> None:
        # Fail closed: a zero or negative limit would mean "unlimited" to some engines.
        for name in ("memory_mb", "pids", "nofile", "nproc", "tmp_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"limit {name} must be positive")
        if self.cpus <= 0:
            raise ValueError("limit cpus must be positive")
        if self.memory_mb < 32:
            raise ValueError("limit memory_mb must be at least 32")


@dataclass(frozen=True)
class HostAllow:
    """A host-local TCP port a tenant may reach (its model endpoint or an API in tests)."""

    port: int

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"invalid port {self.port}")


@dataclass(frozen=True)
class ContainerSpec:
    tenant: str
    image_id: str  # full content digest "sha256:..."; never a mutable tag
    governance_version: str
    instance_id: str
    bootstrap_token: str = field(repr=False)
    internal_url: str = ""  # filled by the backend when empty (gateway of the tenant network)
    limits: Limits = field(default_factory=Limits)
    host_ports: tuple[int, ...] = ()  # host-local ports this tenant may reach (model endpoint)
    agent_port: int = 8080

    def __post_init__(self) -> None:
        for port in self.host_ports:
            HostAllow(port)


@dataclass(frozen=True)
class TenantRuntime:
    """What the engine reports about one tenant."""

    tenant: str
    state: State
    container_id: str = ""
    instance_id: str = ""
    image_id: str = ""
    governance_version: str = ""
    policy_schema: str = ""  # the image's osp.policy.schema label: what its governance reads
    ip: str = ""
    gateway: str = ""
    subnet: str = ""
    started_at: str = ""
    exit_code: int | None = None
    agent_port: int = 8080

    @property
    def agent_url(self) -> str:
        return f"http://{self.ip}:{self.agent_port}" if self.ip else ""


@runtime_checkable
class RuntimeBackend(Protocol):
    """One container per tenant, plus its private network segment and ``/data`` volume.

    Every method takes a validated tenant name. Methods raise :class:`BackendUnavailable`
    before changing anything when the engine cannot be reached.
    """

    def check(self) -> None:
        """Raise BackendUnavailable unless the engine answers."""

    def prepare(self) -> None:
        """Load the network policy for every tenant segment (run before anything starts)."""

    def create(self, spec: ContainerSpec) -> TenantRuntime:
        """Create network + volume if missing, then a fresh container (replacing any old one)."""

    def start(self, spec: ContainerSpec) -> TenantRuntime:
        """Create and start a fresh container instance.

        A bootstrap token is single use, so an old container can never be started again
        usefully: every start is a new instance with its own token. Network and volume
        are kept.
        """

    def stop(self, tenant: str, timeout_s: int = 5) -> TenantRuntime:
        """Stop the container; it stays for ``logs`` until the next start."""

    def restart(self, spec: ContainerSpec) -> TenantRuntime:
        """Stop, then start a new instance (rotation: the old secrets die with it)."""

    def suspend(self, tenant: str) -> TenantRuntime:
        """Stop and remove the container; network and ``/data`` volume are kept."""

    def resume(self, spec: ContainerSpec) -> TenantRuntime:
        """Start a new instance after a suspend, on the same volume."""

    def remove(self, tenant: str, *, purge_data: bool = False) -> None:
        """Remove container and network; the volume only with ``purge_data``."""

    def status(self, tenant: str) -> TenantRuntime: ...

    def logs(self, tenant: str, tail: int = 100) -> str: ...

    def list_tenants(self) -> list[TenantRuntime]:
        """Every tenant container this installation owns (for reconcile/orphans)."""

    def discard_bootstrap(self, tenant: str, instance_id: str) -> None:
        """Destroy the delivered bootstrap token once it has been traded (or given up on)."""

    def uninstall(self) -> list[str]:
        """Remove everything this installation put on the host (containers, networks,
        volumes, firewall table); returns what was removed."""
