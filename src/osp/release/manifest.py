"""Signed release manifests: what an image is, signed with the operator's Ed25519 key.

Every build writes a manifest (image digest, OSP version, governance version, policy-schema
hash, scan report hash, build time) signed with the release key, which lives sealed in the
vault. Nothing runs an image unless its manifest verifies (:class:`ManifestVerifier`):

* the manifest is looked up by the image's *content* digest (the image id), never by tag,
  so re-tagging another image, or rebuilding under the same tag, finds no manifest;
* the signature must verify against a trusted key, so an edited manifest is refused;
* the image in the engine must still carry the digest and labels the manifest names.

A signature cannot live inside the image it signs (it would change the digest), so
manifests are files under ``<data_dir>/release/manifests/<digest>.json``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from osp.errors import OspError
from osp.release.build import policy_schema_hash

KEY_NAME = "release_signing_key"
FORMAT = "osp-release-manifest/1"


class ImageRefused(OspError):
    """The image may not run: unsigned, tampered, re-tagged or signed by an unknown key."""

    status_code = 409


class KeyStore(Protocol):
    """Where the release key is sealed (the vault's platform secrets)."""

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, value: bytes) -> None: ...


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + base64.b64encode(raw).decode()


class ReleaseKey:
    def __init__(self, store: KeyStore) -> None:
        self.store = store

    def generate(self) -> str:
        """Create the release key; refuses to replace one (that would orphan every
        signature the fleet relies on)."""
        if self.store.get(KEY_NAME) is not None:
            raise OspError("a release key exists already (`osp release show-key`)")
        self.store.put(KEY_NAME, os.urandom(32))
        return key_id(self.private().public_key())

    def private(self) -> Ed25519PrivateKey:
        seed = self.store.get(KEY_NAME)
        if seed is None:
            raise OspError("no release key: run `osp release keygen`")
        return Ed25519PrivateKey.from_private_bytes(seed)

    def private_or_create(self) -> Ed25519PrivateKey:
        if self.store.get(KEY_NAME) is None:
            self.generate()
        return self.private()

    def public(self) -> Ed25519PublicKey | None:
        return self.private().public_key() if self.store.get(KEY_NAME) is not None else None


@dataclass(frozen=True)
class Manifest:
    image_id: str  # sha256:<64 hex>, the content digest podman reports
    tag: str
    osp_version: str
    governance_version: str
    policy_schema_hash: str
    scan_report_hash: str
    built_at: str
    key_id: str
    format: str = FORMAT

    def payload(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ManifestStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, image_id: str) -> Path:
        digest = image_id.removeprefix("sha256:")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ImageRefused(f"not an image digest: {image_id[:80]!r}")
        return self.directory / f"{digest}.json"

    def write(self, manifest: Manifest, signature: bytes, report: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(manifest.image_id)
        body = {"manifest": asdict(manifest),
                "signature": base64.b64encode(signature).decode(), "scan_report": report}
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(body, indent=1, sort_keys=True))
        partial.replace(target)
        return target

    def read(self, image_id: str) -> tuple[Manifest, bytes] | None:
        target = self.path(image_id)
        if not target.is_file():
            return None
        try:
            body = json.loads(target.read_text())
            return Manifest(**body["manifest"]), base64.b64decode(body["signature"])
        except (ValueError, KeyError, TypeError):
            raise ImageRefused(f"manifest of {image_id[:19]} is unreadable") from None


def sign(store: ManifestStore, key: Ed25519PrivateKey, *, image_id: str, tag: str,
         osp_version: str, governance_version: str, report: dict[str, Any],
         report_hash: str, policy_schema: str | None = None) -> Manifest:
    """``policy_schema``: what the image's governance reads (its label, from the image's
    own tree); this control plane's when not given."""
    manifest = Manifest(image_id=image_id, tag=tag, osp_version=osp_version,
                        governance_version=governance_version,
                        policy_schema_hash=policy_schema or policy_schema_hash(),
                        scan_report_hash=report_hash,
                        built_at=now_iso(), key_id=key_id(key.public_key()))
    store.write(manifest, key.sign(manifest.payload()), report)
    return manifest


@dataclass(frozen=True)
class EngineImage:
    image_id: str
    labels: dict[str, str]


def inspect_image(reference: str, podman_bin: str = "podman") -> EngineImage:
    """The engine's view of an image (by id or tag): its content digest and labels."""
    try:
        proc = subprocess.run([podman_bin, "image", "inspect", reference], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ImageRefused(f"cannot inspect image {reference}: {exc}") from None
    if proc.returncode != 0:
        raise ImageRefused(f"no such image: {reference}")
    data = json.loads(proc.stdout)[0]
    image_id = str(data["Id"])
    labels = (data.get("Config") or {}).get("Labels") or {}
    return EngineImage(image_id if image_id.startswith("sha256:") else f"sha256:{image_id}",
                       {str(k): str(v) for k, v in labels.items()})


class ManifestVerifier:
    """Runs before any image starts; raises :class:`ImageRefused` with the reason."""

    def __init__(self, store: ManifestStore, trusted: list[Ed25519PublicKey],
                 podman_bin: str = "podman") -> None:
        self.store = store
        self.trusted = trusted
        self.podman_bin = podman_bin

    def verify(self, reference: str) -> Manifest:
        engine = inspect_image(reference, self.podman_bin)
        found = self.store.read(engine.image_id)
        short = engine.image_id[:19]
        if found is None:
            raise ImageRefused(f"image {reference} ({short}) is unsigned: no release manifest "
                               "for its digest; build it with `osp image build`")
        manifest, signature = found
        if not self._signed(manifest, signature):
            raise ImageRefused(f"release manifest of {short} does not verify against a trusted "
                               "key (tampered, or signed by another key)")
        if manifest.image_id != engine.image_id:
            raise ImageRefused(f"release manifest names {manifest.image_id[:19]}, not {short}")
        label = engine.labels.get("osp.governance.version", "")
        if label != manifest.governance_version:
            raise ImageRefused(f"image {short} carries governance {label or '(none)'}, its "
                               f"manifest says {manifest.governance_version}")
        schema = engine.labels.get("osp.policy.schema", "")
        if schema != manifest.policy_schema_hash:
            # The label is what the transport checks before sending a policy (lockstep).
            raise ImageRefused(f"image {short} carries policy schema {schema[:19] or '(none)'}"
                               f", its manifest says {manifest.policy_schema_hash[:19]}")
        return manifest

    def _signed(self, manifest: Manifest, signature: bytes) -> bool:
        for public in self.trusted:
            try:
                public.verify(signature, manifest.payload())
                return True
            except InvalidSignature:
                continue
        return False

    def status(self, image_id: str) -> str:
        """``signed`` / ``unsigned`` / ``invalid`` for listings (never raises)."""
        try:
            found = self.store.read(image_id)
        except ImageRefused:
            return "invalid"
        if found is None:
            return "unsigned"
        manifest, signature = found
        ok = self._signed(manifest, signature) and manifest.image_id == image_id
        return "signed" if ok else "invalid"
