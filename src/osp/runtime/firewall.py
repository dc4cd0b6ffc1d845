"""Network-layer reachability rules for tenant containers (nftables).

Tenant networks are carved out of one address pool owned by this installation, so one
table of rules covers every tenant bridge, including one created a moment ago. The table
is separate from the rules netavark writes (its ``isolate`` option is a second, independent
layer): in nftables a packet must be accepted by every base chain on a hook, so a ``drop``
here is final whatever other tables say.

What a tenant container may reach (everything else from the pool is dropped):

* the host only on: replies to connections the host opened (the control plane talking
  to the agent), DNS to its *own* gateway (aardvark-dns), the internal API port, and the
  host-local ports configured for that tenant (model endpoint / connected APIs);
* forwarded traffic anywhere except: another tenant's subnet, other container networks on
  this host, link-local (cloud metadata at 169.254.169.254), and configured blocked
  destinations (an external database).

So the admin API is unreachable even when it binds 0.0.0.0, and so is a database on the
host. Containers run without CAP_NET_RAW/NET_ADMIN, so they cannot forge a source address
from another tenant's subnet.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from osp.runtime.interfaces import BackendUnavailable, OperationFailed

LINK_LOCAL = "169.254.0.0/16"


@dataclass(frozen=True)
class TenantRule:
    subnet: str
    host_ports: tuple[int, ...] = ()
    gateway: str = ""  # the network's resolver (aardvark-dns); default: its first address

    @property
    def resolver(self) -> str:
        if self.gateway:
            return str(ipaddress.ip_address(self.gateway))
        return str(next(ipaddress.ip_network(self.subnet).hosts()))


@dataclass(frozen=True)
class BlockedDestination:
    """A destination no tenant may reach, e.g. ``BlockedDestination("10.0.0.5", 5432)``."""

    cidr: str
    port: int | None = None


@dataclass(frozen=True)
class FirewallPolicy:
    table: str
    pool: str
    internal_api_port: int
    tenants: tuple[TenantRule, ...] = ()
    blocked: tuple[BlockedDestination, ...] = ()
    foreign_subnets: tuple[str, ...] = field(default=())  # other container networks

    def __post_init__(self) -> None:
        pool = ipaddress.ip_network(self.pool)
        for rule in self.tenants:
            if not ipaddress.ip_network(rule.subnet).subnet_of(pool):  # type: ignore[arg-type]
                raise ValueError(f"tenant subnet {rule.subnet} is outside the pool {self.pool}")
            for port in rule.host_ports:
                _check_port(port)
            if ipaddress.ip_address(rule.resolver) not in ipaddress.ip_network(rule.subnet):
                raise ValueError(f"gateway {rule.gateway} is outside {rule.subnet}")
        for dest in self.blocked:
            ipaddress.ip_network(dest.cidr, strict=False)
            if dest.port is not None:
                _check_port(dest.port)
        for subnet in self.foreign_subnets:
            ipaddress.ip_network(subnet, strict=False)
        _check_port(self.internal_api_port)
        if not self.table.replace("_", "").isalnum():
            raise ValueError(f"invalid nft table name {self.table!r}")


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise ValueError(f"invalid port {port}")


def _ipv4(cidrs: Iterable[str]) -> list[str]:
    return [c for c in cidrs if ipaddress.ip_network(c, strict=False).version == 4]


def render(policy: FirewallPolicy) -> str:
    """The whole table as one nft script; applied atomically (delete + add in one batch)."""
    pool = policy.pool
    t = policy.table
    lines = [
        f"table inet {t} {{}}",
        f"delete table inet {t}",
        f"table inet {t} {{",
        "  chain input {",
        "    type filter hook input priority filter - 10; policy accept;",
        f"    ip saddr {pool} ct state established,related accept",
        f"    ip saddr {pool} tcp dport {policy.internal_api_port} accept",
    ]
    for rule in policy.tenants:
        # DNS only to the tenant's own gateway: every network's aardvark-dns listens on the
        # host, so "port 53 on any host address" let one tenant resolve another's names.
        lines.append(f"    ip saddr {rule.subnet} ip daddr {rule.resolver} "
                     "meta l4proto { tcp, udp } th dport 53 accept")
        if rule.host_ports:
            ports = ", ".join(str(p) for p in sorted(set(rule.host_ports)))
            lines.append(f"    ip saddr {rule.subnet} tcp dport {{ {ports} }} accept")
    # Fail closed: anything else from a tenant to this host (admin API, database, ssh) dies.
    # TCP is refused with a reset rather than dropped, so an agent pointed at a host port its
    # plan does not allow fails in milliseconds instead of waiting out its connect timeouts;
    # every such port answers alike, so the reset tells the tenant nothing about the host.
    lines += [
        f"    ip saddr {pool} meta l4proto tcp counter reject with tcp reset",
        f"    ip saddr {pool} counter drop",
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter - 10; policy accept;",
        # East-west: no tenant reaches another tenant, in either direction.
        f"    ip saddr {pool} ip daddr {pool} counter drop",
        f"    ip saddr {pool} ip daddr {LINK_LOCAL} counter drop",
        # A destination rewritten on this host (a port another engine publishes, e.g.
        # Docker's -p on every local address) turns "to the host" into "forwarded": it
        # would bypass the input chain, so no tenant connection is ever forwarded after DNAT.
        f"    ip saddr {pool} ct status dnat counter drop",
    ]
    foreign = _ipv4(policy.foreign_subnets)
    if foreign:
        lines.append(f"    ip saddr {pool} ip daddr {{ {', '.join(foreign)} }} counter drop")
    for dest in policy.blocked:
        if ipaddress.ip_network(dest.cidr, strict=False).version != 4:
            continue
        port = f" tcp dport {dest.port}" if dest.port is not None else ""
        lines.append(f"    ip saddr {pool} ip daddr {dest.cidr}{port} counter drop")
    # Tenant traffic never goes to the host over IPv6 either (containers also have it off).
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


class NftFirewall:
    def __init__(self, nft_bin: str = "nft") -> None:
        self.nft_bin = nft_bin

    def _run(self, args: Sequence[str], script: str | None = None) -> str:
        if shutil.which(self.nft_bin) is None:
            raise BackendUnavailable(f"{self.nft_bin} not found: install nftables")
        proc = subprocess.run(
            [self.nft_bin, *args], input=script, capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise OperationFailed(f"nft failed: {detail}")
        return proc.stdout

    def apply(self, policy: FirewallPolicy) -> None:
        self._run(["-f", "-"], render(policy))

    def remove(self, table: str) -> None:
        self._run(["-f", "-"], f"table inet {table} {{}}\ndelete table inet {table}\n")

    def present(self, table: str) -> bool:
        try:
            self._run(["list", "table", "inet", table])
        except OperationFailed:
            return False
        return True
