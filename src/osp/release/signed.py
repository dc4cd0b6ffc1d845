"""Build, scan and sign in one step: what ``osp image build`` and ``tenant start`` use.

``SignedBuilds.build`` runs the image build (whose last release gate is the leak scan) and
signs the manifest with the scan report's hash. A reused image (same inputs) is accepted only
when it already has a verifying manifest here; otherwise it is rebuilt, so the scan runs and
the manifest is written, rather than signing something no gate of ours has seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from osp.release.build import BuildError, BuiltImage, ImageBuilder, Progress
from osp.release.gate import ScanGate
from osp.release.manifest import (
    KeyStore,
    Manifest,
    ManifestStore,
    ManifestVerifier,
    ReleaseKey,
    inspect_image,
    sign,
)


def manifest_store(data_dir: Path) -> ManifestStore:
    return ManifestStore(data_dir / "release" / "manifests")


def verifier_for(data_dir: Path, keys: KeyStore, podman_bin: str = "podman"
                 ) -> ManifestVerifier:
    """Trust the vault's release key (created on first use, like the runtime key)."""
    key = ReleaseKey(keys).private_or_create()
    return ManifestVerifier(manifest_store(data_dir), [key.public_key()], podman_bin)


@dataclass
class SignedBuilds:
    builder: ImageBuilder
    keys: KeyStore
    store: ManifestStore

    @property
    def gate(self) -> ScanGate:
        for hook in self.builder.hooks:
            if isinstance(hook, ScanGate):
                return hook
        # Signing promises the scan ran: a builder without the gate cannot sign.
        raise BuildError("the image builder has no leak-scan gate")

    def build(self, progress: Progress | None = None, wheel: Path | None = None,
              reuse: bool = False) -> tuple[BuiltImage, Manifest]:
        gate = self.gate
        gate.last = None
        key = ReleaseKey(self.keys).private_or_create()
        verifier = ManifestVerifier(self.store, [key.public_key()], self.builder.podman_bin)

        def signed_here(image: BuiltImage) -> bool:
            # Several images may share the source digest (a test run or another installation
            # on this host built one): only one this installation signed is reused, so a
            # start never rebuilds because it happened to see someone else's first.
            return (self.store.read(image.image_id) is not None
                    and verifier.status(image.image_id) == "signed")

        built = self.builder.build(progress, wheel=wheel, reuse=reuse, accept=signed_here)
        if gate.last is None:  # reused: signed_here admitted it, so its manifest is ours
            found = self.store.read(built.image_id)
            if found is None:
                raise BuildError(f"manifest of {built.image_id[:12]} vanished during reuse")
            return built, found[0]
        report = gate.last
        if report is None or report.exit_code != 0:
            raise BuildError("leak scan did not pass; nothing signed")
        # The schema the image's own tree carries (its label), never this process's copy:
        # a fleet upgrade then refuses, in its plan, an image built from another schema.
        schema = inspect_image(built.image_id, self.builder.podman_bin).labels.get(
            "osp.policy.schema", "")
        manifest = sign(self.store, key, image_id=built.image_id, tag=built.tag,
                        osp_version=built.osp_version,
                        governance_version=built.governance_version,
                        report=report.as_dict(), report_hash=report.digest(),
                        policy_schema=schema or None)
        if progress is not None:
            progress(f"signed manifest ({manifest.key_id[:20]}…)")
        return built, manifest
