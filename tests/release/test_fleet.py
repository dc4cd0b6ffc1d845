"""Fleet upgrades with real containers: data carried forward, a failing canary rolled back
byte for byte, an interrupted upgrade recovered, corrupt snapshots refused, unsigned and
lockstep-breaking images refused before anything moves."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from osp.errors import Conflict
from osp.platform import Platform
from osp.release.build import BuiltImage
from osp.release.fleet import AgentHealthGate, Fleet, Journal, Upgrade
from osp.release.manifest import (
    ImageRefused,
    Manifest,
    ManifestStore,
    ManifestVerifier,
    ReleaseKey,
    now_iso,
    sign,
)
from osp.release.snapshot import CorruptSnapshot, SnapshotStore
from osp.runtime.podman import PodmanBackend
from osp.runtime.wiring import RuntimeParts
from osp.tenancy.service import TenantInfo
from tests.images import derived_image
from tests.release.test_signing import MemoryKeys

pytestmark = pytest.mark.podman


@dataclass
class World:
    parts: RuntimeParts
    backend: PodmanBackend
    store: ManifestStore
    keys: MemoryKeys
    base: BuiltImage
    tmp: Path
    names: list[str]

    def sign(self, image_id: str, governance: str | None = None) -> None:
        sign(self.store, ReleaseKey(self.keys).private_or_create(), image_id=image_id,
             tag="test", osp_version=self.base.osp_version,
             governance_version=governance or self.base.governance_version,
             report={}, report_hash="sha256:test")

    def fleet(self, health: AgentHealthGate | None = None) -> Fleet:
        verifier = ManifestVerifier(self.store, [ReleaseKey(self.keys).private().public_key()])
        return Fleet(self.parts.service, SnapshotStore(self.tmp / "snapshots", self.backend),
                     verifier, Journal(self.tmp / "fleet.json"),
                     health or AgentHealthGate(self.parts.service), self.parts.audit,
                     lambda: [self.info(n) for n in self.names])

    def info(self, name: str) -> TenantInfo:
        return self.parts.service.tenants.get(name)

    def write_data(self, tenant: str) -> None:
        payload = uuid.uuid4().hex * 50
        r = self.backend.exec(tenant, ["sh", "-c", f"mkdir -p /data/notes && echo {payload} "
                                       "> /data/notes/a.txt && echo kept > /data/keep"])
        assert r.returncode == 0, r.stderr

    def data(self, tenant: str) -> str:
        # What the test wrote (the agent keeps its own files in /data too): contents,
        # sizes, modes and mtimes, plus whether the bad image's leftover exists.
        r = self.backend.exec(tenant, ["sh", "-c", "cd /data && sha256sum keep notes/*; "
                                       "ls -lA --time-style=+%s keep notes; ls new 2>&1; true"])
        assert r.returncode == 0, r.stderr
        return r.stdout

    def image_of(self, tenant: str) -> str:
        return self.parts.service.status(self.info(tenant)).image_digest


@pytest.fixture
def world(platform: Platform, podman_parts: RuntimeParts, backend: PodmanBackend,
          agent_image: BuiltImage, make_tenant: Callable[..., TenantInfo],
          tmp_path: Path) -> Iterator[World]:
    podman_parts.service.health_timeout_s = 15
    w = World(podman_parts, backend, ManifestStore(tmp_path / "manifests"), MemoryKeys(),
              agent_image, tmp_path, [])
    w.sign(agent_image.image_id)
    yield w


def start_tenants(w: World, make_tenant: Callable[..., TenantInfo], n: int) -> None:
    for _ in range(n):
        info = make_tenant("fl")
        name = info.name
        w.names.append(name)
        w.parts.service.start_image(info, "test", w.base.image_id, w.base.governance_version)
        w.write_data(name)


def test_upgrade_moves_every_tenant_and_keeps_its_data(
        world: World, make_tenant: Callable[..., TenantInfo]) -> None:
    start_tenants(world, make_tenant, 5)
    before = {n: world.data(n) for n in world.names}
    good = derived_image(world.base.image_id)
    try:
        world.sign(good)
        fleet = world.fleet()
        result = fleet.run(fleet.plan(good, canary=1, wave_size=2, max_failures=1))
        assert result.status == "done", [(s.tenant, s.error) for s in result.steps]
        assert sorted({s.wave for s in result.steps}) == [0, 1, 2]
        for name in world.names:
            assert world.image_of(name) == good
            assert world.data(name) == before[name]
        assert all(0 < s.seconds < 60 for s in result.steps)
        # The snapshots taken inside the downtime (plain tar) were gzipped afterwards.
        snaps = SnapshotStore(world.tmp / "snapshots", world.backend)
        for step in result.steps:
            snap = snaps.get(step.tenant, step.snapshot)
            assert snap.archive == "volume.tar.gz" and snaps.verify(snap)
        assert all(0 < s.seconds <= s.gate_seconds for s in result.steps)
        # Pinned: a restart keeps the tenant on the image the upgrade moved it to.
        world.parts.service.restart(world.info(world.names[0]), "test")
        assert world.image_of(world.names[0]) == good
    finally:
        for name in world.names:
            world.backend.remove(name, purge_data=True)
        subprocess.run(["podman", "rmi", "-f", good], capture_output=True)


def test_a_failing_canary_is_rolled_back_byte_for_byte_and_the_upgrade_halts(
        world: World, make_tenant: Callable[..., TenantInfo]) -> None:
    start_tenants(world, make_tenant, 3)
    before = {n: world.data(n) for n in world.names}
    # An agent that damages /data and never answers its health check.
    bad = derived_image(world.base.image_id,
                        'ENTRYPOINT ["/bin/sh", "-c", "echo broken > /data/notes/a.txt; '
                        'rm -f /data/keep; touch /data/new; sleep 300"]')
    try:
        world.sign(bad)
        fleet = world.fleet()
        result = fleet.run(fleet.plan(bad, canary=1, wave_size=5, max_failures=1))
        assert result.status == "halted"
        canary, *rest = result.steps
        assert canary.phase == "rolled_back" and "healthy" in canary.error
        assert [s.phase for s in rest] == ["pending"] * len(rest)
        for name in world.names:
            assert world.image_of(name) == world.base.image_id
            assert world.parts.service.status(world.info(name)).state == "running"
            assert world.data(name) == before[name], name  # restored byte for byte
    finally:
        for name in world.names:
            world.backend.remove(name, purge_data=True)
        subprocess.run(["podman", "rmi", "-f", bad], capture_output=True)


class Killed(BaseException):
    """Stands in for the control plane dying (not an OspError: nothing catches it)."""


def test_an_upgrade_killed_mid_wave_is_recovered_on_the_next_up(
        world: World, make_tenant: Callable[..., TenantInfo]) -> None:
    start_tenants(world, make_tenant, 3)
    good = derived_image(world.base.image_id)
    try:
        world.sign(good)
        checked: list[str] = []

        class DiesOnSecond(AgentHealthGate):
            def check(self, tenant: TenantInfo, image_id: str) -> str | None:
                checked.append(tenant.name)
                if len(checked) == 2:
                    raise Killed  # after the 2nd tenant started on the new image
                return super().check(tenant, image_id)

        fleet = world.fleet(DiesOnSecond(world.parts.service))
        with pytest.raises(Killed):
            fleet.run(fleet.plan(good, canary=1, wave_size=5, max_failures=1))
        journal = Journal(world.tmp / "fleet.json").load()
        assert journal is not None and [s.phase for s in journal.steps] == [
            "upgraded", "started", "pending"]

        recovered = world.fleet().recover()  # what `osp up` runs first
        assert recovered is not None and recovered.status == "halted"
        # The plan orders tenants by name (not by creation), so the canary is the first name.
        images = [world.image_of(n) for n in sorted(world.names)]
        assert images == [good, world.base.image_id, world.base.image_id]
        for name in world.names:
            assert world.parts.service.status(world.info(name)).state == "running"
            assert AgentHealthGate(world.parts.service).check(
                world.info(name), world.image_of(name)) is None
        assert world.fleet().recover() is None  # nothing left to do
    finally:
        for name in world.names:
            world.backend.remove(name, purge_data=True)
        subprocess.run(["podman", "rmi", "-f", good], capture_output=True)


def test_a_corrupt_snapshot_is_refused_before_restore(
        world: World, make_tenant: Callable[..., TenantInfo]) -> None:
    start_tenants(world, make_tenant, 1)
    name = world.names[0]
    try:
        store = SnapshotStore(world.tmp / "snapshots", world.backend)
        snap = store.create(name, runtime={"image_digest": world.base.image_id})
        assert store.snapshots(name)[0].sha256 == snap.sha256
        archive = world.tmp / "snapshots" / name / snap.id / "volume.tar.gz"
        data = bytearray(archive.read_bytes())
        data[len(data) // 2] ^= 0xFF
        archive.write_bytes(bytes(data))
        before = world.data(name)
        world.parts.service.stop(world.info(name), "test")
        with pytest.raises(CorruptSnapshot, match="corrupt"):
            store.restore(snap)
        # A plain (uncompressed) snapshot is checked the same way, and compress() keeps
        # it verifiable: new sha256 recorded, the plain archive gone.
        plain = store.create(name, compress=False)
        tar = world.tmp / "snapshots" / name / plain.id / "volume.tar"
        assert plain.archive == "volume.tar" and tar.is_file()
        tar.write_bytes(tar.read_bytes()[:-512])
        with pytest.raises(CorruptSnapshot, match="corrupt"):
            store.restore(plain)
        with pytest.raises(CorruptSnapshot, match="corrupt"):
            store.compress(plain)  # never gzips (and so blesses) a damaged copy
        plain = store.create(name, compress=False)
        done = store.compress(plain)
        assert done.archive == "volume.tar.gz" and done.sha256 != plain.sha256
        assert store.get(name, plain.id) == done and store.verify(done)
        assert not (world.tmp / "snapshots" / name / plain.id / "volume.tar").exists()
        world.parts.service.start_image(world.info(name), "test", world.base.image_id,
                                        world.base.governance_version)
        assert world.data(name) == before  # untouched
    finally:
        world.backend.remove(name, purge_data=True)


def test_unsigned_and_lockstep_breaking_images_are_refused_in_the_plan(
        world: World, make_tenant: Callable[..., TenantInfo]) -> None:
    fleet = world.fleet()
    other = "sha256:" + "1" * 64
    unsigned = derived_image(world.base.image_id, f"LABEL osp.policy.schema={other}")
    try:
        with pytest.raises(ImageRefused, match="unsigned"):
            fleet.plan(unsigned)
        # Signed, but for a policy schema this control plane does not write.
        key = ReleaseKey(world.keys).private()
        manifest = Manifest(image_id=unsigned, tag="x", osp_version="0",
                            governance_version=world.base.governance_version,
                            policy_schema_hash="sha256:" + "1" * 64,
                            scan_report_hash="sha256:x", built_at=now_iso(),
                            key_id="ed25519:test")
        world.store.write(manifest, key.sign(manifest.payload()), {})
        with pytest.raises(Conflict, match="lockstep"):
            fleet.plan(unsigned)
        # The image's label must say what its signed manifest says.
        world.sign(unsigned)  # a manifest naming this control plane's schema
        with pytest.raises(ImageRefused, match="carries policy schema sha256:1111"):
            fleet.plan(unsigned)
        world.store.write(manifest, key.sign(manifest.payload()), {})
        # A tampered copy (schema hash edited to match) does not verify.
        path = world.store.path(unsigned)
        body = json.loads(path.read_text())
        body["manifest"] = {**body["manifest"], "policy_schema_hash": replace(
            manifest, policy_schema_hash="sha256:" + "2" * 64).policy_schema_hash}
        path.write_text(json.dumps(body))
        with pytest.raises(ImageRefused, match="does not verify"):
            fleet.plan(unsigned)
        assert not (world.tmp / "fleet.json").exists()  # nothing started
        assert isinstance(Upgrade, type)
    finally:
        subprocess.run(["podman", "rmi", "-f", unsigned], capture_output=True)
