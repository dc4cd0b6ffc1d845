"""Per-tenant snapshots: the /data volume (podman volume export, gzip, sha256) + runtime record.

Layout: ``<data_dir>/snapshots/<tenant>/<id>/{volume.tar.gz, meta.json}``. ``meta.json``
records the checksum of the compressed archive, its size, and the tenant's runtime record
(image digest, governance version, limits). Restore verifies the checksum *before*
touching the volume and refuses a corrupt or truncated archive, so a bad snapshot can never
replace good data. Restore empties the volume and imports the archive: the result is the
snapshot byte for byte, with no file left over from after it was taken.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from osp.checks.names import tenant_name_problem
from osp.errors import InvalidInput, NotFound, OspError

ARCHIVE = "volume.tar.gz"
RAW_ARCHIVE = "volume.tar"  # taken inside an upgrade's downtime; compressed right after
META = "meta.json"
CHUNK = 1 << 20


class SnapshotError(OspError):
    """A snapshot could not be taken or restored (one line)."""


class CorruptSnapshot(SnapshotError):
    """The archive does not match its recorded checksum: refused before any change."""


class Volumes(Protocol):
    def volume_name(self, tenant: str) -> str: ...


@dataclass(frozen=True)
class Snapshot:
    id: str
    tenant: str
    created: str
    volume: str
    sha256: str
    size: int
    runtime: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    archive: str = ARCHIVE  # RAW_ARCHIVE until compress() (older snapshots: always gzip)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _podman(argv: list[str], what: str, podman_bin: str, **kw: Any
            ) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run([podman_bin, *argv], capture_output=True, timeout=1800, **kw)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SnapshotError(f"{what}: {exc}") from None
    if proc.returncode != 0:
        raise SnapshotError(f"{what} failed: {proc.stderr.decode(errors='replace').strip()[-200:]}")
    return proc


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class SnapshotStore:
    def __init__(self, root: Path, volumes: Volumes, podman_bin: str = "podman",
                 keep: int = 5, level: int = 3) -> None:
        self.root = root
        self.volumes = volumes
        self.podman_bin = podman_bin
        self.keep = keep
        self.level = level

    def _dir(self, tenant: str, snapshot_id: str | None = None) -> Path:
        # The name becomes a path under the data dir: only a valid tenant name may.
        if (problem := tenant_name_problem(tenant)) is not None:
            raise InvalidInput(problem)
        base = self.root / tenant
        return base if snapshot_id is None else base / snapshot_id

    def create(self, tenant: str, runtime: Mapping[str, Any] | None = None,
               reason: str = "operator", compress: bool = True) -> Snapshot:
        """``compress=False`` writes the plain tar (a disk-speed copy, for the stopped
        window of an upgrade); :meth:`compress` gzips it afterwards. Either way the sha256
        of the stored bytes is recorded while they are written."""
        volume = self.volumes.volume_name(tenant)
        snapshot_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        target = self._dir(tenant, snapshot_id)
        partial = target.with_name(target.name + ".partial")
        partial.mkdir(parents=True)
        try:
            archive = partial / (ARCHIVE if compress else RAW_ARCHIVE)
            proc = subprocess.Popen([self.podman_bin, "volume", "export", volume],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None and proc.stderr is not None
            stdout = proc.stdout
            h = self._write(archive, lambda: stdout.read(CHUNK), compress)
            err = proc.stderr.read().decode(errors="replace").strip()
            if proc.wait(timeout=600) != 0:
                raise SnapshotError(f"podman volume export {volume} failed: {err[-200:]}")
            snap = Snapshot(snapshot_id, tenant, datetime.now(UTC).isoformat(timespec="seconds"),
                            volume, h.hexdigest(), archive.stat().st_size,
                            dict(runtime or {}), reason, archive.name)
            (partial / META).write_text(json.dumps(snap.as_dict(), indent=1, sort_keys=True))
            partial.rename(target)  # atomic: a crash never leaves a half snapshot listed
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        self.prune(tenant)
        return snap

    def _write(self, archive: Path, read: Callable[[], bytes], compress: bool) -> Any:
        """Stream ``read()`` chunks into ``archive`` (gzip or plain); the sha256 is of the
        bytes stored, computed while writing them."""
        h = hashlib.sha256()
        with archive.open("wb") as raw, _HashingWriter(raw, h) as sink:
            if not compress:
                for chunk in iter(read, b""):
                    sink.write(chunk)
                return h
            with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=self.level,
                               mtime=0) as gz:
                for chunk in iter(read, b""):
                    gz.write(chunk)
        return h

    def compress(self, snap: Snapshot) -> Snapshot:
        """Gzip a plain snapshot in place (after the tenant is back up). The plain archive
        is verified first; the new metadata replaces the old atomically, so a crash leaves
        either the verified plain snapshot or the compressed one listed."""
        if snap.archive == ARCHIVE:
            return snap
        plain = self.verify(snap)
        folder = plain.parent
        partial = folder / (ARCHIVE + ".partial")
        with plain.open("rb") as src:
            h = self._write(partial, lambda: src.read(CHUNK), True)
        partial.replace(folder / ARCHIVE)
        done = Snapshot(**{**snap.as_dict(), "sha256": h.hexdigest(),
                           "size": (folder / ARCHIVE).stat().st_size, "archive": ARCHIVE})
        meta = folder / (META + ".partial")
        meta.write_text(json.dumps(done.as_dict(), indent=1, sort_keys=True))
        meta.replace(folder / META)
        plain.unlink()
        return done

    def snapshots(self, tenant: str) -> list[Snapshot]:
        base = self._dir(tenant)
        if not base.is_dir():
            return []
        out = []
        for meta in sorted(base.glob(f"*/{META}")):
            if meta.parent.name.endswith(".partial"):
                continue
            try:
                out.append(Snapshot(**json.loads(meta.read_text())))
            except (ValueError, TypeError):
                continue
        out.sort(key=lambda s: s.id, reverse=True)
        return out

    def get(self, tenant: str, snapshot_id: str | None = None) -> Snapshot:
        snaps = self.snapshots(tenant)
        for snap in snaps:
            if snapshot_id is None or snap.id == snapshot_id:
                return snap
        raise NotFound(f"no snapshot {snapshot_id or ''} of {tenant}".replace("  ", " "))

    def verify(self, snap: Snapshot) -> Path:
        if snap.archive not in (ARCHIVE, RAW_ARCHIVE):
            raise CorruptSnapshot(f"snapshot {snap.id} of {snap.tenant}: unknown archive")
        archive = self._dir(snap.tenant, snap.id) / snap.archive
        if not archive.is_file():
            raise CorruptSnapshot(f"snapshot {snap.id} of {snap.tenant}: archive missing")
        if archive.stat().st_size != snap.size or file_sha256(archive) != snap.sha256:
            raise CorruptSnapshot(f"snapshot {snap.id} of {snap.tenant} is corrupt (checksum "
                                  "mismatch); refusing to restore it")
        return archive

    def restore(self, snap: Snapshot) -> None:
        """Checksum first; then empty the volume and import the archive. The tenant's
        container must be stopped (the caller stops it)."""
        archive = self.verify(snap)
        volume = self.volumes.volume_name(snap.tenant)
        exists = subprocess.run([self.podman_bin, "volume", "exists", volume],
                                capture_output=True, timeout=60).returncode == 0
        if not exists:
            _podman(["volume", "create", volume], "podman volume create", self.podman_bin)
        mount = _podman(["volume", "inspect", "--format", "{{.Mountpoint}}", volume],
                        "podman volume inspect", self.podman_bin).stdout.decode().strip()
        root = Path(mount)
        if not root.is_dir():
            raise SnapshotError(f"volume {volume} has no local mount point")
        for child in root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        # podman reads the tar from stdin; gunzip in this process, streamed.
        proc = subprocess.Popen([self.podman_bin, "volume", "import", volume, "-"],
                                stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None and proc.stderr is not None
        opener = gzip.open if archive.name == ARCHIVE else open
        with opener(archive, "rb") as src:
            for chunk in iter(lambda: src.read(CHUNK), b""):
                proc.stdin.write(chunk)
        proc.stdin.close()
        err = proc.stderr.read()
        proc.returncode = proc.wait(timeout=1800)
        if proc.returncode != 0:
            raise SnapshotError(f"podman volume import {volume} failed: "
                                f"{err.decode(errors='replace').strip()[-200:]}")

    def delete(self, tenant: str, snapshot_id: str) -> None:
        snap = self.get(tenant, snapshot_id)
        shutil.rmtree(self._dir(tenant, snap.id))

    def prune(self, tenant: str) -> list[str]:
        removed = []
        for snap in self.snapshots(tenant)[self.keep:]:
            shutil.rmtree(self._dir(tenant, snap.id), ignore_errors=True)
            removed.append(snap.id)
        return removed


class _HashingWriter:
    def __init__(self, raw: Any, h: Any) -> None:
        self.raw = raw
        self.h = h

    def write(self, data: bytes) -> int:
        self.h.update(data)
        return int(self.raw.write(data))

    def flush(self) -> None:
        self.raw.flush()

    def __enter__(self) -> _HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.flush()
