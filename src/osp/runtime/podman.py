"""Podman implementation of :class:`~osp.runtime.interfaces.RuntimeBackend`.

Why the podman CLI with JSON output rather than the REST service and its Python bindings:

* Podman is daemonless; the CLI needs no long-running ``podman system service`` that OSP
  would have to start, supervise and secure (its socket is root-equivalent), and there is
  no "service down" state to drift into while containers keep running.
* ``podman-py`` would be one more dependency whose release train must match the engine's
  REST API version (Debian bookworm ships 4.3); the CLI flags used here are stable since 4.0.
* Every call is an explicit argv list (no shell), and its JSON output is
  the same document ``podman inspect`` shows an operator.

The cost is a fork/exec per call (~0.05-0.1 s here); the start path makes few of them
(`podman run -d`, no `podman info`: ~0.7 s cold start to healthy in total).

Per tenant: network ``<prefix>-t-<name>`` (own /28 from the installation's pool,
``isolate=true``), volume ``<prefix>-t-<name>-data`` at ``/data``, container
``<prefix>-t-<name>`` run from the image *ID* (a content digest, never a tag).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osp.runtime.firewall import BlockedDestination, FirewallPolicy, NftFirewall, TenantRule
from osp.runtime.interfaces import (
    BackendUnavailable,
    ContainerSpec,
    NotFound,
    OperationFailed,
    State,
    TenantRuntime,
    validate_tenant_name,
)

AGENT_UID = 10001
TOKEN_MOUNT = "/run/osp/bootstrap/token"  # noqa: S105 - a path
LABEL_INSTALL = "osp.installation"
LABEL_TENANT = "osp.tenant"
LABEL_INSTANCE = "osp.instance"
LABEL_DIGEST = "osp.image.digest"
LABEL_GOVERNANCE = "osp.governance.version"
LABEL_HOST_PORTS = "osp.host_ports"
LABEL_POLICY_SCHEMA = "osp.policy.schema"
USERNS_SIZE = 65536
RM_ATTEMPTS = 4
TOKEN_TTL_S = 60  # a bootstrap token's longest lifetime (osp.runtime.bootstrap.MAX_TTL)
TENANT_PREFIX_LEN = 28  # /28: gateway + agent + headroom; 4096 tenants per /16 pool


@dataclass(frozen=True)
class PodmanSettings:
    prefix: str = "osp"  # names resources and the nft table; tests use their own
    pool: str = "10.213.0.0/16"
    internal_api_port: int = 8401
    runtime: str = "runc"
    podman_bin: str = "podman"
    bootstrap_dir: Path | None = None  # host tmpfs; default /dev/shm/<prefix>-bootstrap
    blocked: tuple[BlockedDestination, ...] = ()
    host_ports: dict[str, tuple[int, ...]] = field(default_factory=dict)  # tenant -> ports
    command_timeout_s: float = 120.0
    # "auto": each container gets its own slice of the subordinate IDs of the user
    # "containers" (/etc/subuid, /etc/subgid), so no two tenants share a host UID: per-UID
    # limits are not shared and an escaped process is nobody else's. "host": no user
    # namespace (the agent is host UID 10001 in every tenant); only where auto cannot work.
    userns: str = "auto"

    @property
    def token_dir(self) -> Path:
        # /dev/shm: a tmpfs nearly everywhere, so a token never touches a disk.
        return self.bootstrap_dir or Path(f"/dev/shm/{self.prefix}-bootstrap")  # noqa: S108


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no error output"


class PodmanBackend:
    def __init__(self, settings: PodmanSettings | None = None,
                 firewall: NftFirewall | None = None) -> None:
        self.settings = settings or PodmanSettings()
        self.firewall = firewall or NftFirewall()

    # -- names -------------------------------------------------------------------------
    def container_name(self, tenant: str) -> str:
        return f"{self.settings.prefix}-t-{validate_tenant_name(tenant)}"

    def network_name(self, tenant: str) -> str:
        return self.container_name(tenant)

    def volume_name(self, tenant: str) -> str:
        return f"{self.container_name(tenant)}-data"

    @property
    def table(self) -> str:
        return f"{self.settings.prefix.replace('-', '_')}_runtime"

    # -- plumbing ----------------------------------------------------------------------
    def _podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self.settings.podman_bin, *args]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.settings.command_timeout_s
            )
        except FileNotFoundError:
            raise BackendUnavailable(
                f"podman not found ({self.settings.podman_bin}): install podman and runc"
            ) from None
        except subprocess.TimeoutExpired:
            raise BackendUnavailable(f"podman {args[0]} timed out") from None
        if check and proc.returncode != 0:
            raise OperationFailed(f"podman {args[0]} failed: {_one_line(proc.stderr)}")
        return proc

    def _json(self, *args: str) -> Any:
        out = self._podman(*args).stdout
        try:
            return json.loads(out or "null")
        except ValueError:
            raise OperationFailed(f"podman {args[0]} returned invalid JSON") from None

    def _userns_args(self) -> list[str]:
        if self.settings.userns == "host":
            return []
        if self.settings.userns != "auto":
            raise OperationFailed(f"unknown userns mode {self.settings.userns!r} (auto or host)")
        # Fail closed with a readable line instead of podman's: without a range for the user
        # "containers", auto cannot give tenants distinct host identities.
        for path in ("/etc/subuid", "/etc/subgid"):
            try:
                lines = Path(path).read_text().splitlines()
            except OSError:
                lines = []
            if not any(line.startswith("containers:") for line in lines):
                raise BackendUnavailable(
                    f"{path} has no range for the user 'containers': add "
                    "'containers:2147483647:2147483648' (scripts/setup.sh does)")
        # 65536 IDs: the image's own users (root, the agent's 10001) fit in the slice.
        return ["--userns", f"auto:size={USERNS_SIZE}"]

    def check(self) -> None:
        # `podman info` costs ~0.6 s; an existence query touches the same storage and
        # runtime configuration in ~0.1 s. Exit 0/1 = answered; anything else = broken.
        proc = self._podman("container", "exists", f"{self.settings.prefix}-probe", check=False)
        if proc.returncode not in (0, 1):
            raise BackendUnavailable(f"podman is not working: {_one_line(proc.stderr)}")

    def _exists(self, kind: str, name: str) -> bool:
        return self._podman(kind, "exists", name, check=False).returncode == 0

    # -- network -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Any:
        # Subnet allocation and firewall rendering read-modify-write global state.
        self.settings.token_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.settings.token_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _networks(self) -> list[dict[str, Any]]:
        data = self._json("network", "ls", "--format", "json")
        return list(data or [])

    def _free_subnet(self, networks: Sequence[dict[str, Any]]) -> str:
        used = [
            ipaddress.ip_network(s["subnet"])
            for n in networks for s in (n.get("subnets") or [])
        ]
        pool = ipaddress.ip_network(self.settings.pool)
        for candidate in pool.subnets(new_prefix=TENANT_PREFIX_LEN):
            if not any(candidate.overlaps(u) for u in used):
                return str(candidate)
        raise OperationFailed(f"address pool {self.settings.pool} is exhausted")

    def _ensure_network(self, tenant: str, host_ports: tuple[int, ...]
                        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(the tenant's network, every network as it now is: what the firewall renders)."""
        name = self.network_name(tenant)
        wanted = set(host_ports) | set(self.settings.host_ports.get(tenant, ()))
        ports = ",".join(str(p) for p in sorted(wanted))
        networks = self._networks()
        current = next((n for n in networks if n.get("name") == name), None)
        if current is not None:
            if (current.get("labels") or {}).get(LABEL_HOST_PORTS, "") == ports:
                return current, networks
            self._podman("network", "rm", "-f", name)  # reachability changed: rebuild
            networks = [n for n in networks if n.get("name") != name]
        subnet = ipaddress.ip_network(self._free_subnet(networks))
        gateway = str(next(subnet.hosts()))
        labels = {LABEL_INSTALL: self.settings.prefix, LABEL_TENANT: tenant,
                  LABEL_HOST_PORTS: ports}
        self._podman(
            "network", "create",
            "--opt", "isolate=true",  # netavark's own inter-bridge isolation, layer one
            "--subnet", str(subnet), "--gateway", gateway,
            *[a for k, v in labels.items() for a in ("--label", f"{k}={v}")],
            name,
        )
        # The same shape as a row of `podman network ls --format json`.
        created = {"name": name, "labels": labels,
                   "subnets": [{"subnet": str(subnet), "gateway": gateway}]}
        return created, [*networks, created]

    def prepare(self) -> None:
        self.check()
        with self._lock():
            self.apply_firewall()

    def apply_firewall(self, networks: Sequence[dict[str, Any]] | None = None) -> None:
        """Render and load the nft table from the tenant networks that exist now (``networks``:
        a listing the caller just took under the lock, to save a second one)."""
        tenants: list[TenantRule] = []
        foreign: list[str] = []
        pool = ipaddress.ip_network(self.settings.pool)
        for net in self._networks() if networks is None else networks:
            labels = net.get("labels") or {}
            for sub in net.get("subnets") or []:
                subnet = ipaddress.ip_network(sub["subnet"])
                if labels.get(LABEL_INSTALL) == self.settings.prefix:
                    raw = labels.get(LABEL_HOST_PORTS, "")
                    ports = tuple(int(p) for p in raw.split(",") if p)
                    tenants.append(TenantRule(str(subnet), ports, str(sub.get("gateway") or "")))
                elif subnet.version == 4 and subnet.overlaps(pool):
                    # Another installation (or anything else) inside our pool would have its
                    # traffic dropped by our table and ours by its: refuse, loudly.
                    owner = labels.get(LABEL_INSTALL) or "not OSP"
                    raise OperationFailed(
                        f"address pool {self.settings.pool} overlaps network "
                        f"{net.get('name')} ({owner}): give each installation its own "
                        "OSP_RUNTIME_POOL")
                elif subnet.version == 4:
                    foreign.append(str(subnet))
        self.firewall.apply(FirewallPolicy(
            table=self.table,
            pool=self.settings.pool,
            internal_api_port=self.settings.internal_api_port,
            tenants=tuple(tenants),
            blocked=self.settings.blocked,
            foreign_subnets=tuple(foreign),
        ))

    # -- bootstrap token delivery ------------------------------------------------------
    def _token_path(self, instance_id: str) -> Path:
        if not instance_id.replace("-", "").isalnum():
            raise ValueError("invalid instance id")
        return self.settings.token_dir / instance_id

    def _write_token(self, spec: ContainerSpec) -> Path:
        # The token goes into a file on a host tmpfs (never disk), root-only directory,
        # bind-mounted read-only: it is not in the container config, so `podman inspect`
        # and the environment of every process in the container never show it.
        path = self._token_path(spec.instance_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o400)
        with os.fdopen(fd, "w") as handle:
            handle.write(spec.bootstrap_token)
        os.chown(path, AGENT_UID, AGENT_UID)
        return path

    def _sweep_tokens(self) -> None:
        """Wipe token files older than a token's lifetime: what they hold expired anyway
        (e.g. an agent that never booted, replaced since)."""
        cutoff = time.time() - TOKEN_TTL_S
        with contextlib.suppress(FileNotFoundError):
            for path in self.settings.token_dir.iterdir():
                with contextlib.suppress(FileNotFoundError, ValueError):
                    if path.name != ".lock" and path.lstat().st_mtime < cutoff:
                        self.discard_bootstrap("", path.name)

    def discard_bootstrap(self, tenant: str, instance_id: str) -> None:
        path = self._token_path(instance_id)
        with contextlib.suppress(FileNotFoundError):
            # Truncate before unlinking: the container's bind mount pins the inode, so an
            # unlink alone would leave the token readable inside the container.
            with open(path, "r+b") as handle:
                handle.truncate(0)
            path.unlink()

    # -- lifecycle ---------------------------------------------------------------------
    def create(self, spec: ContainerSpec) -> TenantRuntime:
        self._create(spec, "create")
        return self.status(spec.tenant)

    def _create(self, spec: ContainerSpec, verb: str) -> TenantRuntime:
        """``podman create`` or ``podman run -d`` (one process fewer on the start path).

        The agent gets a fixed address, the one after the gateway of its own network (the
        only container there), so a started tenant's runtime is known without an inspect."""
        tenant = validate_tenant_name(spec.tenant)
        if not spec.image_id.startswith("sha256:"):
            raise ValueError("containers run from an image digest (sha256:...), not a tag")
        # No separate engine check: the first call below (the network listing) fails with the
        # engine's own reason before anything changes. The old container, if any, is replaced
        # by the same podman process that creates the new one (`--replace`): no inspect and
        # no `podman rm` of their own on the start path. Its token file was wiped when it
        # became healthy; any the engine never got to is swept here once expired.
        name = self.container_name(tenant)
        self._sweep_tokens()
        with self._lock():
            net, networks = self._ensure_network(tenant, spec.host_ports)
            # Fail closed: no tenant container runs before its reachability rules are loaded.
            self.apply_firewall(networks)
        if not self._exists("volume", self.volume_name(tenant)):
            self._podman("volume", "create",
                         "--label", f"{LABEL_INSTALL}={self.settings.prefix}",
                         "--label", f"{LABEL_TENANT}={tenant}", self.volume_name(tenant))
        subnet, gateway = net["subnets"][0]["subnet"], net["subnets"][0]["gateway"]
        ip = str(next(h for h in ipaddress.ip_network(subnet).hosts() if str(h) != gateway))
        internal_url = spec.internal_url or f"http://{gateway}:{self.settings.internal_api_port}"
        token_file = self._write_token(spec)
        userns = self._userns_args()
        # ":U" gives the volume and the token file to the agent's *mapped* host UID, which
        # auto picks at start (a restart may pick another slice; U follows it).
        own = ",U" if userns else ""
        lim = spec.limits
        args = [
            "--runtime", self.settings.runtime, *verb.split(), "--replace",
            "--name", name, "--hostname", tenant,
            "--network", self.network_name(tenant), "--ip", ip,
            "--pull", "never",
            "--read-only", "--read-only-tmpfs=false",
            "--tmpfs", f"/tmp:rw,nosuid,nodev,noexec,size={lim.tmp_mb}m,mode=1777",  # noqa: S108
            "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--user", f"{AGENT_UID}:{AGENT_UID}", *userns,
            "--memory", f"{lim.memory_mb}m", "--memory-swap", f"{lim.memory_mb}m",
            "--cpus", str(lim.cpus), "--pids-limit", str(lim.pids),
            "--ulimit", f"nofile={lim.nofile}:{lim.nofile}",
            "--ulimit", f"nproc={lim.nproc}:{lim.nproc}",
            # Tenant traffic is policed for IPv4 by the nft table; IPv6 is simply off.
            "--sysctl", "net.ipv6.conf.all.disable_ipv6=1",
            "--volume", f"{self.volume_name(tenant)}:/data:rw,nosuid,nodev,noexec{own}",
            "--volume", f"{token_file}:{TOKEN_MOUNT}:ro{own}",
            "--log-driver", "k8s-file", "--log-opt", "max-size=1mb",
            "--stop-timeout", "5",
            "--label", f"{LABEL_INSTALL}={self.settings.prefix}",
            "--label", f"{LABEL_TENANT}={tenant}",
            "--label", f"{LABEL_INSTANCE}={spec.instance_id}",
            "--label", f"{LABEL_DIGEST}={spec.image_id}",
            "--label", f"{LABEL_GOVERNANCE}={spec.governance_version}",
            # Only non-secret configuration travels in the environment.
            "--env", f"OSP_TENANT={tenant}",
            "--env", f"OSP_INSTANCE_ID={spec.instance_id}",
            "--env", f"OSP_INTERNAL_URL={internal_url}",
            "--env", f"OSP_IMAGE_DIGEST={spec.image_id}",
            "--env", f"OSP_AGENT_PORT={spec.agent_port}",
            spec.image_id,
        ]
        try:
            try:
                proc = self._podman(*args)
            except OperationFailed as exc:
                if "resource busy" not in str(exc):
                    raise
                # The old container's /dev/shm was still mounted (see _remove_container):
                # remove it with retries, then create the new one.
                self._remove_container(tenant)
                proc = self._podman(*args)
        except Exception:
            self.discard_bootstrap(tenant, spec.instance_id)
            raise
        return TenantRuntime(
            tenant=tenant, state=State.RUNNING if verb.startswith("run") else State.CREATED,
            container_id=proc.stdout.strip(), instance_id=spec.instance_id,
            image_id=spec.image_id, governance_version=spec.governance_version,
            ip=ip if verb.startswith("run") else "", gateway=gateway, subnet=subnet,
            agent_port=spec.agent_port)

    def start(self, spec: ContainerSpec) -> TenantRuntime:
        # `run -d` returns once the container runs: its runtime is what was just created
        # (no inspect; the health wait reads the engine's state if the agent takes long).
        return self._create(spec, "run -d")

    def stop(self, tenant: str, timeout_s: int = 5) -> TenantRuntime:
        self.check()
        name = self.container_name(tenant)
        if not self._exists("container", name):
            raise NotFound(f"tenant {tenant!r} has no container")
        self._podman("stop", "--time", str(timeout_s), name)
        return self.status(tenant)

    def restart(self, spec: ContainerSpec) -> TenantRuntime:
        return self.start(spec)  # start() replaces the old instance after stopping it

    def suspend(self, tenant: str) -> TenantRuntime:
        self.check()
        self._remove_container(tenant)
        return self.status(tenant)

    def resume(self, spec: ContainerSpec) -> TenantRuntime:
        return self.start(spec)

    def _remove_container(self, tenant: str) -> None:
        name = self.container_name(tenant)
        old = self.status(tenant)  # one inspect: whether it exists, and its instance
        if old.state == State.ABSENT:
            return
        for attempt in range(RM_ATTEMPTS):
            proc = self._podman("rm", "--force", "--time", "5", name, check=False)
            # Podman 4.3 sometimes finds the container's /dev/shm still mounted right after
            # the stop ("device or resource busy", seen under load with user namespaces);
            # the unmount completes a moment later, so a short wait and retry succeeds.
            if proc.returncode == 0 or "resource busy" not in proc.stderr \
                    or attempt == RM_ATTEMPTS - 1:
                break
            time.sleep(0.5 * (attempt + 1))
        if proc.returncode != 0:
            raise OperationFailed(f"podman rm failed: {_one_line(proc.stderr)}")
        if old.instance_id:
            self.discard_bootstrap(tenant, old.instance_id)

    def remove(self, tenant: str, *, purge_data: bool = False) -> None:
        self.check()
        self._remove_container(tenant)
        if self._exists("network", self.network_name(tenant)):
            self._podman("network", "rm", "-f", self.network_name(tenant))
            with self._lock():
                self.apply_firewall()
        if purge_data and self._exists("volume", self.volume_name(tenant)):
            self._podman("volume", "rm", "-f", self.volume_name(tenant))

    def uninstall(self) -> list[str]:
        """Everything labelled with this installation's prefix goes, then its nft table
        (last: nothing of ours runs unpoliced while it is being taken down)."""
        self.check()
        prefix = f"label={LABEL_INSTALL}={self.settings.prefix}"
        removed: list[str] = []
        with self._lock():
            for row in self._json("ps", "-a", "--format", "json", "--filter", prefix) or []:
                self._podman("rm", "-f", "--time", "5", row["Id"], check=False)
                removed.append(f"container {(row.get('Names') or [row['Id']])[0]}")
            for net in self._networks():
                if (net.get("labels") or {}).get(LABEL_INSTALL) == self.settings.prefix:
                    self._podman("network", "rm", "-f", net["name"], check=False)
                    removed.append(f"network {net['name']}")
            for vol in self._json("volume", "ls", "--format", "json", "--filter", prefix) or []:
                self._podman("volume", "rm", "-f", vol["Name"], check=False)
                removed.append(f"volume {vol['Name']}")
            if self.firewall.present(self.table):
                self.firewall.remove(self.table)
                removed.append(f"nft table inet {self.table}")
        return removed

    # -- observation -------------------------------------------------------------------
    def _runtime_from_inspect(self, tenant: str, info: dict[str, Any]) -> TenantRuntime:
        state = info.get("State") or {}
        status = str(state.get("Status", "")).lower()
        mapped = {
            "running": State.RUNNING, "created": State.CREATED, "configured": State.CREATED,
            "exited": State.STOPPED, "stopped": State.STOPPED,
        }.get(status, State.UNKNOWN)
        labels = (info.get("Config") or {}).get("Labels") or {}
        nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
        net = nets.get(self.network_name(tenant)) or {}
        env = (info.get("Config") or {}).get("Env") or []
        port = next((int(e.split("=", 1)[1]) for e in env
                     if e.startswith("OSP_AGENT_PORT=")), 8080)
        return TenantRuntime(
            tenant=tenant,
            state=mapped,
            container_id=str(info.get("Id", "")),
            instance_id=labels.get(LABEL_INSTANCE, ""),
            image_id=labels.get(LABEL_DIGEST, ""),
            governance_version=labels.get(LABEL_GOVERNANCE, ""),
            policy_schema=labels.get(LABEL_POLICY_SCHEMA, ""),  # inherited from the image
            ip=net.get("IPAddress", "") if mapped == State.RUNNING else "",
            gateway=net.get("Gateway", ""),
            started_at=str(state.get("StartedAt", "")) if mapped == State.RUNNING else "",
            exit_code=state.get("ExitCode") if mapped == State.STOPPED else None,
            agent_port=port,
        )

    def status(self, tenant: str) -> TenantRuntime:
        name = self.container_name(tenant)
        proc = self._podman("container", "inspect", "--format", "json", name, check=False)
        if proc.returncode != 0:
            if "no such" in proc.stderr.lower():
                return TenantRuntime(tenant=tenant, state=State.ABSENT)
            self.check()
            raise OperationFailed(f"podman inspect failed: {_one_line(proc.stderr)}")
        return self._runtime_from_inspect(tenant, json.loads(proc.stdout)[0])

    def logs(self, tenant: str, tail: int = 100) -> str:
        name = self.container_name(tenant)
        if not self._exists("container", name):
            raise NotFound(f"tenant {tenant!r} has no container")
        proc = self._podman("logs", "--tail", str(tail), name)
        return proc.stdout + proc.stderr

    def list_tenants(self) -> list[TenantRuntime]:
        rows = self._json("ps", "-a", "--format", "json",
                          "--filter", f"label={LABEL_INSTALL}={self.settings.prefix}")
        result = []
        for row in rows or []:
            tenant = (row.get("Labels") or {}).get(LABEL_TENANT, "")
            if tenant:
                result.append(self.status(tenant))
        return result

    def exec(self, tenant: str, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Run a command inside the tenant container (diagnostics and tests)."""
        return self._podman("exec", self.container_name(tenant), *argv, check=False)


