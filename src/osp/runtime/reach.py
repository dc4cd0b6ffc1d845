"""Can a tenant's agent reach its model endpoint? Checked before the first message.

A model URL the tenant's network cannot reach otherwise shows up only as a chat that fails
after its retries. The control plane knows why it would fail: loopback in the agent's
container is the container itself, the tenant's firewall lets it reach only the host ports
its plan names (``osp tenant limits NAME --host-port P``), and a server bound to 127.0.0.1
on the host is not reachable from a container network. Each problem comes with its fix.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

HOST_ALIAS = "osp-host"  # the tenant network's gateway, i.e. this host
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
PROBE_TIMEOUT_S = 0.5


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _accepts(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _outward_address() -> str | None:
    """An address of this host that is not loopback (the one its default route uses); a
    server that accepts there is bound beyond loopback, as a container network needs."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent for a UDP connect
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if _is_loopback(address) else address


def model_endpoint_problems(tenant: str, base_url: str | None,
                            host_ports: tuple[int, ...]) -> list[str]:
    """One line per reason the tenant's agent cannot reach ``base_url``, each naming its fix.
    Empty when nothing is known to be wrong (a hosted API is not probed from here)."""
    if not base_url:
        return []
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return [f"{base_url} has an invalid port"]
    fixed = parts._replace(netloc=f"{HOST_ALIAS}:{port}").geturl()
    if _is_loopback(host):
        return [f"{host} in {base_url} is the agent's own container, not this host: use "
                f"--base-url {fixed}, allow the port with `osp tenant limits {tenant} "
                f"--host-port {port}`, and bind the server to 0.0.0.0"]
    if host != HOST_ALIAS:
        return []
    problems = []
    if port not in host_ports:
        allowed = ", ".join(str(p) for p in host_ports) or "none"
        problems.append(f"the tenant's network may not reach host port {port} (allowed: "
                        f"{allowed}): run `osp tenant limits {tenant} --host-port {port}` "
                        "(it applies at the next start)")
    outward = _outward_address()
    if outward is not None and not _accepts(outward, port):
        if _accepts("127.0.0.1", port):
            problems.append(f"the server on port {port} listens only on 127.0.0.1, which "
                            "containers cannot reach: bind it to 0.0.0.0 (Ollama: "
                            "OLLAMA_HOST=0.0.0.0:11434; llama-server: --host 0.0.0.0)")
        else:
            problems.append(f"nothing accepts connections on port {port} of this host yet: "
                            "start the model server (bound to 0.0.0.0) before chatting")
    return problems
