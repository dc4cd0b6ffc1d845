"""Signed manifests: only an image whose manifest verifies may start; tampered, unsigned,
re-tagged and changed-after-signing images are refused, by ``tenant start`` among others."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from osp.platform import Platform
from osp.release.build import IMAGE_REPO, BuiltImage
from osp.release.manifest import (
    ImageRefused,
    ManifestStore,
    ManifestVerifier,
    ReleaseKey,
    sign,
)
from osp.release.scan import scan_tree
from osp.release.signed import SignedBuilds
from osp.runtime.service import FixedImage
from osp.runtime.store import PlatformSecrets
from osp.runtime.wiring import agent_image_builder, build_runtime
from osp.tenancy.service import TenantInfo
from tests.release.conftest import CACHE_DIR
from tests.runtime.conftest import FakeBackend

pytestmark = pytest.mark.podman


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


class MemoryKeys:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    def get(self, name: str) -> bytes | None:
        return self.values.get(name)

    def put(self, name: str, value: bytes) -> None:
        self.values[name] = value


@pytest.fixture
def store(tmp_path: Path) -> ManifestStore:
    return ManifestStore(tmp_path / "manifests")


def _sign(store: ManifestStore, keys: MemoryKeys | PlatformSecrets, image: BuiltImage,
          tmp_path: Path) -> None:
    tree = tmp_path / "scanned-tree"
    tree.mkdir(exist_ok=True)
    report = scan_tree(tree)
    sign(store, ReleaseKey(keys).private_or_create(), image_id=image.image_id, tag=image.tag,
         osp_version=image.osp_version, governance_version=image.governance_version,
         report=report.as_dict(), report_hash=report.digest())


@pytest.fixture
def changed_image(built_image: BuiltImage) -> Iterator[str]:
    """The signed image with one file changed after signing (same labels, new digest)."""
    container = podman("create", "--runtime", "runc", "--entrypoint", "/bin/true",
                       built_image.image_id)
    try:
        extra = Path(f"/tmp/osp-extra-{uuid.uuid4().hex}")
        extra.write_text("patched after signing\n")
        podman("cp", str(extra), f"{container}:/opt/osp/extra.txt")
        extra.unlink()
        image_id = podman("commit", "-q", container)
    finally:
        podman("rm", "-f", container)
    image_id = image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"
    yield image_id
    subprocess.run(["podman", "rmi", "-f", image_id], capture_output=True)


def test_a_signed_image_verifies(built_image: BuiltImage, store: ManifestStore,
                                 tmp_path: Path) -> None:
    keys = MemoryKeys()
    _sign(store, keys, built_image, tmp_path)
    verifier = ManifestVerifier(store, [ReleaseKey(keys).private().public_key()])
    manifest = verifier.verify(built_image.image_id)
    assert manifest.governance_version == built_image.governance_version
    assert manifest.scan_report_hash.startswith("sha256:")
    assert manifest.policy_schema_hash == json.loads(podman(
        "image", "inspect", built_image.image_id))[0]["Config"]["Labels"]["osp.policy.schema"]
    assert verifier.verify(f"localhost/{built_image.tag}") == manifest  # by tag, too


@pytest.fixture
def foreign_copy(built_image: BuiltImage) -> Iterator[str]:
    """Another image with the same source digest, built after ours and signed by nobody here
    (what a test run or another installation on the host leaves behind)."""
    container = podman("create", "--runtime", "runc", "--entrypoint", "/bin/true",
                       built_image.image_id)
    try:
        image_id = podman("commit", "-q", container)
    finally:
        podman("rm", "-f", container)
    tag = f"localhost/{IMAGE_REPO}:foreign-{uuid.uuid4().hex[:8]}"
    podman("tag", image_id, tag)
    yield image_id
    subprocess.run(["podman", "rmi", "-f", tag, image_id], capture_output=True)


def test_a_start_reuses_the_image_signed_here_not_a_newer_foreign_one(
        built_image: BuiltImage, foreign_copy: str, store: ManifestStore, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    keys = MemoryKeys()
    _sign(store, keys, built_image, tmp_path)
    builder = agent_image_builder(CACHE_DIR)
    reusing = builder.build

    def no_rebuild(progress: Any = None, wheel: Any = None, reuse: bool = False,
                   accept: Any = None) -> BuiltImage:
        # A rebuild here is the defect: minutes of scan, install and signing on a start.
        assert reuse, "the signed build rebuilt instead of reusing the image signed here"
        return reusing(progress, wheel=wheel, reuse=reuse, accept=accept)

    monkeypatch.setattr(builder, "build", no_rebuild)
    built, manifest = SignedBuilds(builder, keys, store).build(reuse=True)

    assert built.image_id == built_image.image_id != foreign_copy
    assert ManifestVerifier(store, [ReleaseKey(keys).private().public_key()]).verify(
        built.image_id) == manifest


def test_tampered_foreign_unsigned_retagged_and_changed_images_are_refused(
        built_image: BuiltImage, changed_image: str, store: ManifestStore,
        tmp_path: Path) -> None:
    keys = MemoryKeys()
    _sign(store, keys, built_image, tmp_path)
    verifier = ManifestVerifier(store, [ReleaseKey(keys).private().public_key()])

    # Changed after signing: a new digest, which no manifest names.
    with pytest.raises(ImageRefused, match="is unsigned"):
        verifier.verify(changed_image)

    # Re-tagged: the trusted tag now points at other content.
    retag = f"localhost/osp-agent:retag-{uuid.uuid4().hex[:8]}"
    podman("tag", built_image.image_id, retag)
    assert verifier.verify(retag)
    podman("tag", changed_image, retag)
    try:
        with pytest.raises(ImageRefused, match="is unsigned"):
            verifier.verify(retag)
    finally:
        podman("untag", changed_image, retag)

    # Signed by someone else's key.
    stranger = ManifestVerifier(store, [ReleaseKey(MemoryKeys()).private_or_create()
                                        .public_key()])
    with pytest.raises(ImageRefused, match="does not verify"):
        stranger.verify(built_image.image_id)

    # Tampered: the manifest edited after signing (a governance version bumped by hand).
    path = store.path(built_image.image_id)
    body = json.loads(path.read_text())
    body["manifest"]["governance_version"] = "99.0.0"
    path.write_text(json.dumps(body))
    with pytest.raises(ImageRefused, match="does not verify"):
        verifier.verify(built_image.image_id)
    assert verifier.status(built_image.image_id) == "invalid"

    # A manifest copied onto another image's digest.
    store.path(changed_image).write_text(json.dumps(body))
    with pytest.raises(ImageRefused):
        verifier.verify(changed_image)


def test_tenant_start_refuses_an_unsigned_image_and_audits_it(
        platform: Platform, make_tenant: Callable[..., TenantInfo], built_image: BuiltImage,
        changed_image: str, tmp_path: Path) -> None:
    keys = PlatformSecrets(platform.db, platform.vault)
    store = ManifestStore(platform.settings.data_dir / "release" / "manifests")
    _sign(store, keys, built_image, tmp_path)
    verifier = ManifestVerifier(store, [ReleaseKey(keys).private().public_key()])
    tenant = make_tenant("sig")
    backend = FakeBackend()

    parts = build_runtime(platform, backend=backend,
                          images=FixedImage(changed_image, built_image.governance_version),
                          verifier=verifier)
    with pytest.raises(ImageRefused, match="unsigned"):
        parts.service.start(tenant, "test")
    assert backend.status(tenant.name).state.value != "running"
    with platform.db.tenant(tenant.id) as s:
        events = [e for e in platform.audit.list(s, tenant.id, 20)
                  if e.kind == "runtime.start_refused"]
    assert events and events[0].details["reason"] == "image_unverified"

    parts = build_runtime(platform, backend=backend,
                          images=FixedImage(built_image.image_id,
                                            built_image.governance_version),
                          verifier=verifier)
    status = parts.service.start(tenant, "test", wait=False)
    assert status.image_digest == built_image.image_id


def test_a_tenant_runs_its_pinned_image_and_a_tampered_pin_is_refused(
        platform: Platform, make_tenant: Callable[..., TenantInfo], built_image: BuiltImage,
        changed_image: str, tmp_path: Path) -> None:
    """Start and restart run the image the tenant's runtime record names, not the newest
    signed build; moving it is a fleet upgrade's (or rollback's) job; a pinned image that
    no longer verifies (manifest edited, or gone: unsigned) is refused and audited."""
    keys = PlatformSecrets(platform.db, platform.vault)
    store = ManifestStore(platform.settings.data_dir / "release" / "manifests")
    _sign(store, keys, built_image, tmp_path)
    newer = BuiltImage(changed_image, "newer", built_image.osp_version,
                       built_image.governance_version)
    _sign(store, keys, newer, tmp_path)
    verifier = ManifestVerifier(store, [ReleaseKey(keys).private().public_key()])
    tenant = make_tenant("pin")
    backend = FakeBackend()

    def runtime(image: str) -> Any:
        return build_runtime(platform, backend=backend, verifier=verifier,
                             images=FixedImage(image, built_image.governance_version)).service

    assert runtime(built_image.image_id).start(tenant, "t", wait=False).image_digest == \
        built_image.image_id
    service = runtime(changed_image)  # a newer signed build exists now
    status = service.restart(tenant, "t", wait=False)
    assert status.image_digest == status.image_pinned == built_image.image_id
    service.stop(tenant, "t")
    assert service.start(tenant, "t", wait=False).image_digest == built_image.image_id

    service.pin(tenant, "t", changed_image)  # what a fleet upgrade of a stopped tenant does
    assert service.restart(tenant, "t", wait=False).image_digest == changed_image

    path = store.path(changed_image)
    body = json.loads(path.read_text())
    body["manifest"]["osp_version"] = "9.9.9"  # edited after signing
    path.write_text(json.dumps(body))
    with pytest.raises(ImageRefused, match="does not verify"):
        service.restart(tenant, "t", wait=False)
    path.unlink()  # no manifest at all
    with pytest.raises(ImageRefused, match="unsigned"):
        service.start(tenant, "t", wait=False)
    with pytest.raises(ImageRefused, match="unsigned"):
        service.pin(tenant, "t", changed_image)
    with platform.db.tenant(tenant.id) as s:
        refused = [e.details for e in platform.audit.list(s, tenant.id, 50)
                   if e.kind == "runtime.start_refused"]
    assert len(refused) == 3 and {d["image_digest"] for d in refused} == {changed_image}


def test_the_production_wiring_verifies_by_default(platform: Platform) -> None:
    parts = build_runtime(platform, backend=FakeBackend())
    assert isinstance(parts.service.verifier, ManifestVerifier)
    with pytest.raises(ImageRefused, match="no such image"):
        parts.service.verifier.verify("sha256:" + "0" * 64)
