"""Release timings with real containers: snapshot/restore per 100 MB, per-tenant upgrade
downtime (stop -> healthy on the new image) p50/p95, a fleet upgrade end to end, and the
rollback of a failed canary.

Run as root on a host with podman, runc, nft and debootstrap:

    python bench/release/bench_release.py [--tenants 20] [--mb 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/osp-runtime-{os.getuid()}")
Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn  # noqa: E402
from bench.agent.bench_overhead import free_port  # noqa: E402

from osp.app.agent import build_agent  # noqa: E402
from osp.config import Settings  # noqa: E402
from osp.platform import open_platform  # noqa: E402
from osp.release.fleet import AgentHealthGate, Fleet, Journal  # noqa: E402
from osp.release.manifest import ManifestStore, ManifestVerifier, ReleaseKey, sign  # noqa: E402
from osp.release.smoke import (  # noqa: E402
    SMOKE_PATH,
    GovernedSmoke,
    gateway_sender,
    smoke_model_router,
)
from osp.release.snapshot import SnapshotStore  # noqa: E402
from osp.runtime.podman import PodmanBackend, PodmanSettings  # noqa: E402
from osp.runtime.service import FixedImage  # noqa: E402
from osp.runtime.store import PlatformSecrets  # noqa: E402
from osp.runtime.wiring import agent_image_builder, build_runtime, internal_app  # noqa: E402
from osp.tenancy.service import TenantInfo  # noqa: E402

CACHE = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def derived(base: str, *changes: str) -> str:
    container = podman("create", "--runtime", "runc", "--entrypoint", "/bin/true", base)
    try:
        argv = ["commit", "-q"]
        # The container was created with another entrypoint; commit would keep that one.
        for change in ('ENTRYPOINT ["/opt/osp/venv/bin/osp-agent"]', *changes):
            argv += ["--change", change]
        image = podman(*argv, container)
    finally:
        podman("rm", "-f", container)
    return image if image.startswith("sha256:") else f"sha256:{image}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--smoke-model", choices=["scripted", "none"], default="scripted",
                        help="the gate's governed smoke message (scripted model on the "
                             "internal listener), or none")
    args = parser.parse_args()
    image = agent_image_builder(CACHE).build(reuse=True)
    print(f"host: {os.cpu_count()} cores; image {image.tag}")
    with tempfile.TemporaryDirectory(prefix="osp-bench-") as tmp, \
            open_platform(Settings(data_dir=Path(tmp) / "data")) as platform:
        internal_port = free_port()
        backend = PodmanBackend(PodmanSettings(prefix="osrl", pool="10.219.0.0/16",
                                               internal_api_port=internal_port))
        runtime = build_runtime(platform, backend=backend,
                                images=FixedImage(image.image_id, image.governance_version))
        runtime.service.health_timeout_s = 10
        runtime.internal_port = internal_port
        gateway = build_agent(platform, runtime).gateway
        smoke = None if args.smoke_model == "none" else GovernedSmoke(
            gateway_sender(gateway), args.smoke_model,
            f"http://osp-host:{internal_port}{SMOKE_PATH}/v1")
        app = internal_app(runtime, [smoke_model_router()])
        server = uvicorn.Server(uvicorn.Config(app, host="0.0.0.0",
                                               port=internal_port, log_level="warning",
                                               lifespan="off"))
        threading.Thread(target=server.run, daemon=True).start()
        keys = PlatformSecrets(platform.db, platform.vault)
        key = ReleaseKey(keys).private_or_create()
        store = ManifestStore(Path(tmp) / "manifests")
        good = derived(image.image_id)
        bad = derived(image.image_id, 'ENTRYPOINT ["/bin/sleep", "300"]')
        for img in (image.image_id, good, bad):
            sign(store, key, image_id=img, tag="bench", osp_version=image.osp_version,
                 governance_version=image.governance_version, report={}, report_hash="-")
        names: list[str] = []
        infos: dict[str, TenantInfo] = {}
        try:
            backend.prepare()
            for _ in range(args.tenants):
                info = platform.tenants.create(f"bench-rl-{uuid.uuid4().hex[:6]}", "bench")
                name = info.name
                infos[name] = info
                runtime.service.start_image(info, "bench", image.image_id,
                                            image.governance_version)
                names.append(name)
            # snapshot/restore of args.mb MB (half random, half zeros) in the first tenant
            first = names[0]
            half = max(args.mb // 2, 1)
            backend.exec(first, ["sh", "-c", f"head -c {half}M /dev/urandom > /data/r.bin && "
                                 f"head -c {half}M /dev/zero > /data/z.bin"])
            snaps = SnapshotStore(Path(tmp) / "snapshots", backend)
            t0 = time.perf_counter()
            snap = snaps.create(first)
            t_snap = time.perf_counter() - t0
            runtime.service.stop(infos[first], "bench")
            t0 = time.perf_counter()
            snaps.restore(snap)  # stopped until the plain round below is done too
            t_restore = time.perf_counter() - t0
            print(f"snapshot {args.mb} MB: {t_snap:.2f}s (archive {snap.size / 1e6:.1f} MB); "
                  f"restore (checksum + import): {t_restore:.2f}s")
            t0 = time.perf_counter()
            plain = snaps.create(first, compress=False)
            t_plain = time.perf_counter() - t0
            t0 = time.perf_counter()
            snaps.restore(plain)
            t_plain_restore = time.perf_counter() - t0
            t0 = time.perf_counter()
            snaps.compress(plain)
            t_compress = time.perf_counter() - t0
            print(f"plain snapshot {args.mb} MB (what an upgrade takes while stopped): "
                  f"{t_plain:.2f}s; restore from it {t_plain_restore:.2f}s; gzip afterwards "
                  f"(tenant running) {t_compress:.2f}s")
            runtime.service.start_image(infos[first], "bench", image.image_id,
                                        image.governance_version)
            backend.exec(first, ["sh", "-c", "rm -f /data/r.bin /data/z.bin"])

            verifier = ManifestVerifier(store, [key.public_key()])

            def fleet() -> Fleet:
                return Fleet(runtime.service, snaps, verifier,
                             Journal(Path(tmp) / "fleet.json"),
                             AgentHealthGate(runtime.service, smoke), runtime.audit,
                             lambda: [infos[n] for n in names])

            f = fleet()
            t0 = time.perf_counter()
            result = f.run(f.plan(good, canary=1, wave_size=5, max_failures=2))
            total = time.perf_counter() - t0
            downtime = [s.seconds for s in result.steps if s.phase == "upgraded"]
            gate = [s.gate_seconds for s in result.steps if s.phase == "upgraded"]
            if not downtime or result.status != "done":
                raise SystemExit(f"upgrade failed: {[(s.tenant, s.error) for s in result.steps]}")
            print(f"fleet upgrade of {len(names)} tenants: {result.status} in {total:.1f}s; "
                  f"per-tenant downtime (stop -> serving on the new image) "
                  f"p50 {statistics.median(downtime):.2f}s p95 {pct(downtime, 95):.2f}s "
                  f"max {max(downtime):.2f}s; stop -> gate passed (smoke: "
                  f"{args.smoke_model}) p50 {statistics.median(gate):.2f}s "
                  f"p95 {pct(gate, 95):.2f}s")
            f = fleet()
            t0 = time.perf_counter()
            result = f.run(f.plan(bad, canary=1, wave_size=5, max_failures=1))
            canary = result.steps[0]
            print(f"failed canary: detected + rolled back in {time.perf_counter() - t0:.1f}s "
                  f"(health timeout 10s); rollback alone (stop, restore, start old, healthy) "
                  f"{canary.rollback_seconds:.2f}s; status {result.status}")
        finally:
            server.should_exit = True
            for rt in backend.list_tenants():
                backend.remove(rt.tenant, purge_data=True)
            backend.firewall.remove(backend.table)
            for img in (good, bad):
                subprocess.run(["podman", "rmi", "-f", img], capture_output=True)


if __name__ == "__main__":
    main()
