"""`osp tenant start` of a stopped tenant, to healthy, against a bare `podman run` of the same
agent image on the same network with the same hardening. Prints figures, asserts nothing.

    .venv/bin/python bench/runtime/bench_start.py [--runs 10] [--data-dir DIR]

A private installation (own data dir, ports, prefix ``osst`` and pool 10.220.0.0/16) runs
`osp up` in the background; one tenant is created and started once (this builds and signs
the agent image: the base root filesystem is taken from the test cache when there is one).
Then, per run, the tenant is stopped (not timed) and `osp tenant start` is timed as a user
runs it: a fresh process, from exec to the command's exit, which is after the agent answered
its health check. The bare case times `podman run -d` of the same image digest on the
tenant's own network, read-only, all capabilities dropped, no-new-privileges, the same user,
memory/pids/ulimit limits and sysctl (no volume, no token, no health check: the floor).
While `osp up` runs, the CLI's lifecycle commands go through its operator socket; the
bench also times the same command with the socket's name moved away (the CLI then opens the
installation itself, as without `osp up`). The in-process case times
`RuntimeService.start` to healthy in this process (the installation opened once), with a
per-phase split (every podman call, the nft load, the image checks, the health polls; the
agent's boot from its container start to its ``agent.ready`` line): see
``start_phases.py``. ``--no-cli`` skips the CLI cases.
Everything is removed at the end (`osp tenant delete` of the last tenant clears the host).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
import start_phases  # this directory's helper, found through sys.path above

PREFIX = "osst"
POOL = "10.220.0.0/16"
TENANT = "benchstart"
TEST_CACHE = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def osp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(Path(sys.executable).parent / "osp"), *args], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"osp {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True,
                          check=True).stdout


def seed_cache(data_dir: Path) -> None:
    """The image build's base root filesystem (debootstrap, minutes) from the test cache."""
    cache = data_dir / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for tar in TEST_CACHE.glob("rootfs-*.tar"):
        if not (cache / tar.name).exists():
            shutil.copy2(tar, cache / tar.name)


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("osp up exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("osp up did not become healthy")


def bare_args(container: dict[str, object]) -> list[str]:
    """The hardening of the tenant's container, as `podman run` flags."""
    host = container["HostConfig"]
    assert isinstance(host, dict)
    ulimits = [f"{u['Name'].removeprefix('RLIMIT_').lower()}={u['Soft']}:{u['Hard']}"
               for u in host.get("Ulimits") or [] if u["Name"] in ("RLIMIT_NOFILE",
                                                                     "RLIMIT_NPROC")]
    config = container["Config"]
    assert isinstance(config, dict)
    return ["--runtime", "runc", "--network", str(host["NetworkMode"]).removeprefix("bridge:"),
            "--pull", "never", "--read-only", "--read-only-tmpfs=false",
            "--tmpfs", "/tmp:rw,nosuid,nodev,noexec,size=64m,mode=1777",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", str(config["User"]), "--memory", f"{host['Memory']}",
            "--memory-swap", f"{host['MemorySwap']}", "--pids-limit", str(host["PidsLimit"]),
            *[a for u in ulimits for a in ("--ulimit", u)],
            "--sysctl", "net.ipv6.conf.all.disable_ipv6=1"]


def report(label: str, times: list[float], floor: float | None = None) -> None:
    ratio = f"{statistics.median(times) / floor:.2f}x" if floor else "1.00x"
    print(f"{label:44} p50 {statistics.median(times):6.3f} s  p95 {pct(times, 0.95):6.3f} s  "
          f"min {min(times):6.3f} s  n={len(times)}  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--no-cli", action="store_true", help="only the in-process case")
    parser.add_argument("--keep", action="store_true",
                        help="keep the tenant (and its signed image) for the next run; "
                             "only with --data-dir")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="osp-bench-start-")) / "osp"
    seed_cache(data_dir)
    port, internal = free_port(), free_port()
    env = {**os.environ, "OSP_DATA_DIR": str(data_dir), "OSP_PORT": str(port),
           "OSP_INTERNAL_PORT": str(internal), "OSP_RUNTIME_PREFIX": PREFIX,
           "OSP_RUNTIME_POOL": POOL, "OSP_URL": f"http://127.0.0.1:{port}"}
    env.pop("OSP_DATABASE_URL", None)
    log = open(data_dir.parent / "osp-up.log", "wb")  # noqa: SIM115
    up = subprocess.Popen([str(Path(sys.executable).parent / "osp"), "up"], env=env,
                          stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(port, up)
        names = json.loads(osp(env, "tenant", "list", "--json").stdout)
        if TENANT not in {t["name"] for t in names}:
            osp(env, "tenant", "create", TENANT)
        print("first start (builds and signs the agent image when needed) ...", flush=True)
        osp(env, "tenant", "start", TENANT)
        name = f"{PREFIX}-t-{TENANT}"
        inspected = json.loads(podman("container", "inspect", name))[0]
        image = inspected["Image"]
        flags = bare_args(inspected)
        load_before = os.getloadavg()[0]

        starts: list[float] = []
        for _ in range(0 if args.no_cli else args.runs):
            osp(env, "tenant", "stop", TENANT)
            t0 = time.perf_counter()
            osp(env, "tenant", "start", TENANT)
            starts.append(time.perf_counter() - t0)
        osp(env, "tenant", "stop", TENANT)
        # The same command when it finds no control plane on the operator socket and opens
        # the installation itself: the socket's name is moved away (the server keeps it).
        sock = data_dir / "operator.sock"
        opened: list[float] = []
        if sock.exists() and not args.no_cli:
            sock.rename(data_dir / "operator.sock.off")
            try:
                for _ in range(args.runs):
                    osp(env, "tenant", "stop", TENANT)
                    t0 = time.perf_counter()
                    osp(env, "tenant", "start", TENANT)
                    opened.append(time.perf_counter() - t0)
                osp(env, "tenant", "stop", TENANT)
            finally:
                (data_dir / "operator.sock.off").rename(sock)

        bare: list[float] = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            podman("run", "-d", "--name", f"{PREFIX}-bare", *flags, image)
            bare.append(time.perf_counter() - t0)
            podman("rm", "-f", "--time", "0", f"{PREFIX}-bare")

        os.environ.update(env)  # the in-process case opens the same installation
        in_process, phases, boots = start_phases.measure(TENANT, args.runs)
        osp(env, "tenant", "stop", TENANT)

        print(f"\nload average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; "
              f"{os.cpu_count()} cores")
        floor = statistics.median(bare)
        report("bare `podman run -d` (same image, hardening)", bare)
        if starts:
            report("`osp tenant start` to healthy", starts, floor)
        if opened:
            report("the same, opening the installation itself", opened, floor)
        start_phases.report(in_process, phases, boots, floor)
    finally:
        if not (args.keep and args.data_dir):
            subprocess.run([str(Path(sys.executable).parent / "osp"), "tenant", "delete",
                            TENANT, "--yes"], env=env, capture_output=True, check=False)
        subprocess.run(["podman", "rm", "-f", "--time", "0", f"{PREFIX}-bare"],
                       capture_output=True, check=False)
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
        log.close()
        if args.data_dir is None:
            shutil.rmtree(data_dir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
