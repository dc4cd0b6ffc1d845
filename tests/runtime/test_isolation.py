"""Attacks on the tenant boundary from inside a real tenant container (SPEC section A)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from osp.runtime.interfaces import Limits
from tests.runtime.conftest import Tenants
from tests.runtime.probe import (
    connect_from,
    dns_from,
    host_addresses,
    host_listener,
    listening_ports,
)
from tests.slots import free_port

pytestmark = pytest.mark.podman


@pytest.fixture(scope="module")
def pair(tenants: Tenants) -> Tenants:
    tenants.start("alpha", {"MODEL_KEY": "alpha-key"})
    tenants.start("bravo", {"MODEL_KEY": "bravo-key"})
    return tenants


def _extra_listener(tenants: Tenants, tenant: str, port: int) -> None:
    """Make the victim listen on more than the agent port, so 'every port' means something."""
    code = (f"import socket,time;s=socket.socket();s.bind(('0.0.0.0',{port}));s.listen();"
            "time.sleep(600)")
    proc = tenants.backend._podman("exec", "-d", tenants.backend.container_name(tenant),
                                   "python3", "-c", code, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_port_of_b_is_unreachable_from_a_while_b_reaches_itself(pair: Tenants) -> None:
    _extra_listener(pair, "bravo", 9099)
    b = pair.backend.status("bravo")
    for _ in range(50):
        ports = listening_ports(pair.backend, "bravo")
        if 9099 in ports:
            break
    assert {8080, 9099} <= set(ports)
    targets = [f"{b.ip}:{p}" for p in ports] + [f"{b.gateway}:{p}" for p in ports]
    from_a = connect_from(pair.backend, "alpha", targets)
    assert all(v != "open" for v in from_a.values()), from_a
    from_b = connect_from(pair.backend, "bravo", [f"{b.ip}:{p}" for p in ports])
    assert all(v == "open" for v in from_b.values()), from_b


def test_the_host_reaches_each_agent_on_its_container_ip(pair: Tenants) -> None:
    for tenant in ("alpha", "bravo"):
        assert pair.agent_status(tenant)["tenant"] == tenant


def test_a_sees_none_of_bs_processes_files_or_volume(pair: Tenants) -> None:
    backend = pair.backend
    marker = "bravo-private-marker-7c1e"
    write = backend.exec("bravo", ["sh", "-c", f"echo {marker} > /data/{marker}.txt"])
    assert write.returncode == 0, write.stderr
    backend._podman("exec", "-d", backend.container_name("bravo"), "python3", "-c",
                    "import time; time.sleep(600)", marker, check=False)
    procs = backend.exec("alpha", ["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"])
    assert marker not in procs.stdout
    pids = backend.exec("alpha", ["sh", "-c", "ls -d /proc/[0-9]*"]).stdout.split()
    assert len(pids) < 10  # only alpha's own few processes
    found = backend.exec("alpha", ["sh", "-c",
                                   f"grep -rl {marker} /data /tmp /opt /etc 2>/dev/null; "
                                   f"find / -xdev -name '{marker}*' 2>/dev/null; true"])
    assert marker not in found.stdout
    mounts = backend.exec("alpha", ["cat", "/proc/self/mountinfo"]).stdout
    assert backend.volume_name("bravo") not in mounts
    assert backend.volume_name("alpha") in mounts or "/data" in mounts


def test_a_cannot_reach_admin_api_or_database_on_the_host(pair: Tenants,
                                                          model_port: int) -> None:
    a = pair.backend.status("alpha")
    b = pair.backend.status("bravo")
    admin, database = free_port(), free_port()
    with host_listener(admin), host_listener(database), host_listener(model_port):
        addrs = [a.gateway, b.gateway, *host_addresses()]
        blocked = [f"{h}:{p}" for h in addrs for p in (admin, database, 22, 5432)]
        result = connect_from(pair.backend, "alpha", blocked)
        assert all(v != "open" for v in result.values()), result
        # What alpha may reach: the internal API and its own configured model endpoint.
        allowed = connect_from(pair.backend, "alpha", [
            f"{a.gateway}:{pair.api.port}", f"{a.gateway}:{model_port}"])
        assert set(allowed.values()) == {"open"}, allowed
        # The model port is alpha's, not bravo's.
        other = connect_from(pair.backend, "bravo", [f"{b.gateway}:{model_port}"])
        assert set(other.values()) != {"open"}, other


def test_container_is_hardened(pair: Tenants) -> None:
    backend = pair.backend
    name = backend.container_name("alpha")
    info = json.loads(backend._podman("container", "inspect", name).stdout)[0]
    host = info["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert not info.get("EffectiveCaps") and not info.get("BoundingCaps")
    assert any("no-new-privileges" in o for o in host.get("SecurityOpt") or [])
    assert info["Config"]["User"] == "10001:10001"
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["PidsLimit"] == 64
    assert host["NanoCpus"] == 500_000_000
    ulimits = {u["Name"]: u["Soft"] for u in host["Ulimits"]}
    assert ulimits["RLIMIT_NOFILE"] == Limits().nofile
    assert ulimits["RLIMIT_NPROC"] == Limits().nproc  # explicit; pids is the real ceiling
    labels = info["Config"]["Labels"]
    assert labels["osp.tenant"] == "alpha"
    assert labels["osp.image.digest"] == pair.image.image_id
    assert labels["osp.governance.version"] == pair.image.governance_version
    assert info["Image"] == pair.image.image_id.removeprefix("sha256:")
    inside = backend.exec("alpha", ["sh", "-c",
                                    "id -u; touch /rootfile 2>&1 || echo ro; "
                                    "touch /tmp/x && echo tmp-ok; touch /data/x && echo data-ok; "
                                    "grep CapEff /proc/1/status"])
    lines = inside.stdout
    assert lines.splitlines()[0] == "10001"
    assert "ro" in lines and "tmp-ok" in lines and "data-ok" in lines
    assert "CapEff:\t0000000000000000" in lines


def test_netavark_isolation_and_nft_table_are_both_present(pair: Tenants) -> None:
    backend = pair.backend
    net = json.loads(backend._podman("network", "inspect",
                                     backend.network_name("alpha")).stdout)[0]
    assert net["options"]["isolate"] == "true"
    table = subprocess.run(["nft", "list", "table", "inet", backend.table],
                           capture_output=True, text=True, check=True).stdout
    assert "drop" in table and str(pair.api.port) in table


def test_a_noisy_neighbour_hits_its_own_limits_not_bs(pair: Tenants) -> None:
    backend = pair.backend
    bomb = ("import threading, time\n"
            "n = 0\n"
            "try:\n"
            "    for _ in range(500):\n"
            "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
            "        n += 1\n"
            "except RuntimeError:\n"
            "    pass\n"
            "print(n)\n")
    started = int(backend.exec("alpha", ["python3", "-c", bomb]).stdout.strip() or 0)
    assert started < 64  # the per-tenant pids cgroup stopped it
    hog = backend.exec("alpha", ["python3", "-c", "b = bytearray(600 * 1024 * 1024); print(1)"])
    assert hog.returncode != 0  # killed or refused by alpha's memory limit
    # bravo serves and can still create threads of its own (same host UID, other cgroup)
    assert pair.agent_status("bravo")["tenant"] == "bravo"
    own = backend.exec("bravo", ["python3", "-c", bomb.replace("500", "20")])
    assert own.stdout.strip() == "20"


def test_a_database_on_another_container_network_is_unreachable(pair: Tenants) -> None:
    """An 'external' database on a non-tenant network of this host (podman's default
    bridge here): the forward chain drops tenant traffic to it."""
    backend = pair.backend
    name = f"{backend.settings.prefix}-fake-db"
    backend._podman("rm", "-f", name, check=False)
    backend._podman("--runtime", "runc", "run", "-d", "--name", name, "--network", "podman",
                    "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                    "--entrypoint", "python3", pair.image.image_id, "-c",
                    "import socket,time;s=socket.socket();s.bind(('0.0.0.0',5432));"
                    "s.listen();time.sleep(600)")
    try:
        ip = json.loads(backend._podman("container", "inspect", name).stdout)[0][
            "NetworkSettings"]["Networks"]["podman"]["IPAddress"]
        backend.apply_firewall()  # the default network now counts as foreign
        for _ in range(30):  # the listener is up when the host can reach it
            host = subprocess.run(["python3", "-c", f"import socket;socket.create_connection("
                                   f"('{ip}',5432),1)"], capture_output=True)
            if host.returncode == 0:
                break
            time.sleep(0.1)
        assert host.returncode == 0
        result = connect_from(backend, "alpha", [f"{ip}:5432"])
        assert result[f"{ip}:5432"] != "open", result
    finally:
        backend._podman("rm", "-f", "--time", "1", name, check=False)


def test_a_pool_shared_with_another_network_is_refused(pair: Tenants) -> None:
    from dataclasses import replace

    from osp.runtime.interfaces import OperationFailed
    from osp.runtime.podman import PodmanBackend

    other = PodmanBackend(replace(pair.backend.settings, prefix="osq-intruder"))
    with pytest.raises(OperationFailed, match="overlaps network"):
        other.apply_firewall()
    assert not other.firewall.present(other.table)


def _sh(*argv: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr.strip()}"


def test_a_port_forwarded_by_the_host_does_not_carry_a_tenant_anywhere(pair: Tenants) -> None:
    """Another engine on the host publishes a port (a DNAT rule, like Docker's -p) to a
    service on a network OSP does not know about (here a namespace at 198.51.100.2, not a podman
    network, so no foreign-subnet rule covers it). A tenant connecting to that port on its
    gateway would be forwarded past the input chain; the forward chain drops any tenant
    connection that was DNATed."""
    backend, tag = pair.backend, pair.backend.settings.prefix[:6]
    ns, host_if, ns_if, table = f"{tag}dn", f"{tag}dh", f"{tag}dp", f"{tag}_dnat_test"
    gateway = backend.status("alpha").gateway
    for cleanup in (["ip", "netns", "del", ns], ["nft", "delete", "table", "ip", table]):
        subprocess.run(cleanup, capture_output=True)
    listener = None
    try:
        _sh("ip", "netns", "add", ns)
        _sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _sh("ip", "link", "set", ns_if, "netns", ns)
        _sh("ip", "addr", "add", "198.51.100.1/30", "dev", host_if)
        _sh("ip", "link", "set", host_if, "up")
        _sh("ip", "netns", "exec", ns, "ip", "addr", "add", "198.51.100.2/30", "dev", ns_if)
        _sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _sh("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", "198.51.100.1")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", ns, "python3", "-c",
             "import socket,time;s=socket.socket();s.bind(('0.0.0.0',5432));s.listen();"
             "time.sleep(600)"])
        for _ in range(50):  # the service is up when the host reaches it
            up = subprocess.run(["python3", "-c", "import socket;socket.create_connection("
                                 "('198.51.100.2',5432),1)"], capture_output=True)
            if up.returncode == 0:
                break
            time.sleep(0.1)
        assert up.returncode == 0
        subprocess.run(["nft", "-f", "-"], check=True, text=True, input=(
            f"table ip {table} {{\n chain prerouting {{\n"
            "  type nat hook prerouting priority dstnat; policy accept;\n"
            f"  ip daddr {gateway} tcp dport 15432 dnat to 198.51.100.2:5432\n }}\n}}\n"))

        result = connect_from(backend, "alpha", [f"{gateway}:15432"])

        assert result[f"{gateway}:15432"] != "open", result
    finally:
        if listener is not None:
            listener.kill()
        subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)


def test_dns_goes_only_to_the_tenants_own_gateway(pair: Tenants) -> None:
    """Weakness 8 of the outside test: a tenant container queried another tenant's DNS
    server (aardvark-dns on that network's gateway) and resolved its container names."""
    a = pair.backend.status("alpha")
    b = pair.backend.status("bravo")
    bravo_name = pair.backend.container_name("bravo")
    alpha_name = pair.backend.container_name("alpha")
    own = dns_from(pair.backend, "alpha", [(a.gateway, alpha_name)])
    assert own[a.gateway].startswith("answered:"), own  # its own resolver still works
    foreign = dns_from(pair.backend, "alpha", [(b.gateway, bravo_name)])
    assert foreign[b.gateway] == "timeout", foreign
    # Over TCP too (DNS falls back to it), and not to any other host address either.
    tcp = connect_from(pair.backend, "alpha", [f"{b.gateway}:53"])
    assert tcp[f"{b.gateway}:53"] != "open", tcp


def _host_ids(pair: Tenants, tenant: str) -> tuple[int, str]:
    """(host UID of the tenant's agent process, its user namespace's uid_map)."""
    pid = pair.backend._podman("inspect", "--format", "{{.State.Pid}}",
                               pair.backend.container_name(tenant)).stdout.strip()
    status = Path(f"/proc/{pid}/status").read_text()
    uid = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
    return uid, Path(f"/proc/{pid}/uid_map").read_text().split()


def test_each_tenant_runs_under_its_own_host_identity(pair: Tenants) -> None:
    """Item 2: per-UID limits and an escaped process are not shared between tenants."""
    a_uid, a_map = _host_ids(pair, "alpha")
    b_uid, b_map = _host_ids(pair, "bravo")
    assert a_uid != b_uid
    assert 10001 not in (a_uid, b_uid) and 0 not in (a_uid, b_uid)
    # Non-overlapping slices: [start, start + size) of one never meets the other's.
    a_start, a_size = int(a_map[1]), int(a_map[2])
    b_start, b_size = int(b_map[1]), int(b_map[2])
    assert a_start + a_size <= b_start or b_start + b_size <= a_start
    # Inside, the agent is still 10001 and its volume is writable.
    inside = pair.backend.exec("alpha", ["sh", "-c", "id -u; touch /data/w && echo ok"])
    assert inside.stdout.split() == ["10001", "ok"], inside.stderr
