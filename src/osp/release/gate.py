"""The leak scan as a blocking release gate of ``osp image build``, and image scans.

``ScanGate`` is a :data:`~osp.release.build.ReleaseHook`: it runs over the finished root
filesystem right before ``podman import``; a finding or a scanner failure raises
:class:`BuildRefused`, so no image is produced. ``scan_image`` scans an existing image
(``osp release scan --image``) by exporting a container's file system.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from osp.release.build import BuildContext, BuildError, BuildRefused
from osp.release.scan import (
    ERROR,
    RULESET,
    AllowEntry,
    ReleaseConfig,
    ScanConfigError,
    ScanReport,
    load_baseline,
    load_config,
    scan_tree,
)

RELEASE_TOML = "release.toml"
BASELINE = "scan-baseline.toml"


@dataclass(frozen=True)
class ReleaseFiles:
    """Where the operator keeps release.toml and the image scan baseline (both optional)."""

    config: Path | None = None
    baseline: Path | None = None

    @classmethod
    def in_dir(cls, directory: Path) -> ReleaseFiles:
        cfg, base = directory / RELEASE_TOML, directory / BASELINE
        return cls(cfg if cfg.is_file() else None, base if base.is_file() else None)

    def load(self) -> tuple[ReleaseConfig, list[AllowEntry]]:
        return load_config(self.config), load_baseline(self.baseline)

    def fingerprint(self) -> str:
        h = hashlib.sha256(RULESET.encode())
        for path in (self.config, self.baseline):
            h.update(path.read_bytes() if path is not None and path.is_file() else b"-")
        return h.hexdigest()[:16]


@dataclass
class ScanGate:
    """``ImageBuilder(..., hooks=[..., ScanGate(files)])``; the last report stays readable."""

    files: ReleaseFiles = field(default_factory=ReleaseFiles)
    last: ScanReport | None = None
    __name__ = "leak_scan"

    def fingerprint(self) -> str:
        """Part of the image reuse key: a changed deny-list or baseline rebuilds (rescans)."""
        return self.files.fingerprint()

    def __call__(self, ctx: BuildContext) -> None:
        try:
            config, baseline = self.files.load()
        except ScanConfigError as exc:
            raise BuildRefused(f"leak scan could not run: {exc}") from None
        report = scan_tree(ctx.rootfs, config, baseline, trust_packages=True)
        self.last = report
        if report.exit_code == ERROR:
            raise BuildRefused(f"leak scan could not scan the image: {report.errors[0]}")
        if report.findings:
            first = report.findings[0]
            raise BuildRefused(f"leak scan: {len(report.findings)} finding(s) in the image, "
                               f"first {first.path}:{first.line} {first.rule}")


def scan_image(image: str, config: ReleaseConfig, baseline: list[AllowEntry],
               podman_bin: str = "podman") -> ScanReport:
    """Export a container of ``image`` and scan its root filesystem (exit-2 on failure)."""
    with tempfile.TemporaryDirectory(prefix="osp-scan-") as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        try:
            _export(image, Path(tmp) / "fs.tar", podman_bin)
            _extract(Path(tmp) / "fs.tar", root)
        except BuildError as exc:
            report = ScanReport(image)
            report.errors.append(str(exc))
            return report
        report = scan_tree(root, config, baseline, trust_packages=True)
        report.root = image
        return report


def _podman(argv: list[str], what: str, podman_bin: str) -> str:
    try:
        proc = subprocess.run([podman_bin, *argv], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{what}: {exc}") from None
    if proc.returncode != 0:
        raise BuildError(f"{what} failed: {proc.stderr.strip()[-200:]}")
    return proc.stdout.strip()


def _export(image: str, tar: Path, podman_bin: str) -> None:
    container = _podman(["create", "--runtime", "runc", "--entrypoint", "/bin/true", image],
                        f"cannot open image {image}", podman_bin)
    try:
        _podman(["export", "-o", str(tar), container], "podman export", podman_bin)
    finally:
        subprocess.run([podman_bin, "rm", "-f", container], capture_output=True, timeout=120)


def _extract(tar: Path, root: Path) -> None:
    """Regular files and directories only: no links or devices are created on the host."""
    try:
        with tarfile.open(tar) as tf:
            for member in tf:
                name = member.name.lstrip("/")
                if not name or ".." in Path(name).parts:
                    continue
                target = root / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tf.extractfile(member)
                    if src is None:
                        continue
                    with src, target.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
    except (OSError, tarfile.TarError) as exc:
        raise BuildError(f"cannot unpack the image: {exc}") from None
