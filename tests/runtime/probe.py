"""Helpers that run small probes *inside* tenant containers (their python3 is the image's)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from osp.runtime.podman import PodmanBackend

CONNECT = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor

def probe(target):
    host, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(1.5)
    try:
        s.connect((host, int(port)))
        return "open"
    except socket.timeout:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()

targets = json.loads(sys.argv[1])
with ThreadPoolExecutor(max_workers=16) as pool:  # well under the tenant's pids limit
    print(json.dumps(dict(zip(targets, pool.map(probe, targets)))))
"""

LISTENING = """
import json
ports = set()
for path in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(path).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        if f[3] == "0A":
            ports.add(int(f[1].rsplit(":", 1)[1], 16))
print(json.dumps(sorted(ports)))
"""


def connect_from(backend: PodmanBackend, tenant: str, targets: Sequence[str]) -> dict[str, str]:
    proc = backend.exec(tenant, ["python3", "-c", CONNECT, json.dumps(list(targets))])
    assert proc.returncode == 0, proc.stderr
    result: dict[str, str] = json.loads(proc.stdout)
    return result


def listening_ports(backend: PodmanBackend, tenant: str) -> list[int]:
    proc = backend.exec(tenant, ["python3", "-c", LISTENING])
    assert proc.returncode == 0, proc.stderr
    ports: list[int] = json.loads(proc.stdout)
    return ports


@contextmanager
def host_listener(port: int) -> Iterator[None]:
    """A TCP server on 0.0.0.0:port of the host, like an admin API or a database would be."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", port))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def host_addresses() -> list[str]:
    """IPv4 addresses of this host's own interfaces (eth0 ...), not container bridges."""
    import subprocess

    out = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True).stdout
    addrs = []
    for link in json.loads(out or "[]"):
        if link.get("ifname", "").startswith(("lo", "podman", "veth", "cni")):
            continue
        addrs += [a["local"] for a in link.get("addr_info", []) if a.get("local")]
    return addrs[:4]


DNS_QUERY = """
import json, random, socket, struct, sys

def query(server, name):
    # One A query over UDP, built by hand (the image has no DNS tools).
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        packet += bytes([len(label)]) + label.encode()
    packet += b"\\x00" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.5)
    try:
        s.sendto(packet, (server, 53))
        answer, _ = s.recvfrom(4096)
    except socket.timeout:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__
    finally:
        s.close()
    count = struct.unpack(">H", answer[6:8])[0]
    return "answered:%d" % count

print(json.dumps({server: query(server, name) for server, name in json.loads(sys.argv[1])}))
"""


def dns_from(backend: PodmanBackend, tenant: str,
             queries: Sequence[tuple[str, str]]) -> dict[str, str]:
    """{server: "answered:<n answers>" | "timeout" | error} for A queries sent from inside."""
    proc = backend.exec(tenant, ["python3", "-c", DNS_QUERY, json.dumps(list(queries))])
    assert proc.returncode == 0, proc.stderr
    result: dict[str, str] = json.loads(proc.stdout)
    return result
