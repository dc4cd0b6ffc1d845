"""The leak-scan gate: walk a tree, report secrets and branding, honour a reasoned baseline.

Used in three places: ``.ci/run`` over the repository, ``osp image build`` over the image's
root filesystem before it is imported (:class:`ScanGate`), and ``osp release scan`` on demand.

Fail closed: anything the scanner cannot read or judge (an unreadable file, a text file
too large to scan, a broken rule set, a malformed baseline) makes the result "could not
scan" (exit 2), never "clean". Findings carry a masked excerpt and a fingerprint, never the
value itself.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from osp.release.rules import Branding, Hit, plugin_names, secret_file_hit, secret_hits

RULESET = "osp-leak-scan/1"
MAX_TEXT_BYTES = 64 * 1024 * 1024
DEFAULT_EXCLUDES = (".git", ".venv", "node_modules", "__pycache__", ".mypy_cache",
                    ".ruff_cache", ".pytest_cache")

CLEAN, FINDINGS, ERROR = 0, 1, 2


class ScanConfigError(ValueError):
    """release.toml or the baseline is unreadable or malformed (exit 2)."""


@dataclass(frozen=True)
class Brand:
    """The brand overlay's fields (``[brand]`` in release.toml)."""

    product_name: str = ""
    agent_name: str = ""
    preamble: str = ""
    primary_color: str = ""
    logo: str = ""


@dataclass(frozen=True)
class ReleaseConfig:
    branding: Branding = field(default_factory=Branding)
    brand: Brand = field(default_factory=Brand)
    excludes: tuple[str, ...] = DEFAULT_EXCLUDES


def _strings(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ScanConfigError(f"{where}: {key} must be a list of non-empty strings")
    return tuple(value)


def load_config(path: Path | None) -> ReleaseConfig:
    """``release.toml``; a missing path means defaults (no deny-list, no brand)."""
    if path is None:
        return ReleaseConfig()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScanConfigError(f"cannot read {path}: {exc}") from None
    deny = data.get("branding", {})
    scan = data.get("scan", {})
    brand = data.get("brand", {})
    if not all(isinstance(t, dict) for t in (deny, scan, brand)):
        raise ScanConfigError(f"{path}: [branding], [scan] and [brand] must be tables")
    try:
        branding = Branding(_strings(deny, "words", str(path)),
                            _strings(deny, "regexes", str(path)),
                            _strings(deny, "globs", str(path)))
    except re.error as exc:
        raise ScanConfigError(f"{path}: bad branding regex: {exc}") from None
    unknown = set(brand) - set(Brand.__dataclass_fields__)
    if unknown or not all(isinstance(v, str) for v in brand.values()):
        raise ScanConfigError(f"{path}: [brand] takes strings {sorted(Brand.__dataclass_fields__)}"
                              f"{'; unknown: ' + ', '.join(sorted(unknown)) if unknown else ''}")
    excludes = DEFAULT_EXCLUDES + _strings(scan, "exclude", str(path))
    return ReleaseConfig(branding, Brand(**brand), excludes)


@dataclass(frozen=True)
class AllowEntry:
    path: str
    rule: str
    fingerprint: str
    reason: str


def load_baseline(path: Path | None) -> list[AllowEntry]:
    """The allow-list: ``[[allow]]`` tables with path, rule, fingerprint and a reason."""
    if path is None:
        return []
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScanConfigError(f"cannot read baseline {path}: {exc}") from None
    entries = []
    for i, row in enumerate(data.get("allow", []), 1):
        if not isinstance(row, dict):
            raise ScanConfigError(f"{path}: allow entry {i} is not a table")
        values = {k: row.get(k) for k in ("path", "rule", "fingerprint", "reason")}
        missing = [k for k, v in values.items() if not isinstance(v, str) or not v.strip()]
        if missing:
            # An allow-list entry without a reason is how false positives turn into leaks.
            raise ScanConfigError(f"{path}: allow entry {i} lacks {', '.join(missing)}")
        entries.append(AllowEntry(**{k: str(v) for k, v in values.items()}))
    return entries


def fingerprint(rule: str, relpath: str, value: str) -> str:
    return hashlib.sha256(f"{rule}\0{relpath}\0{value}".encode()).hexdigest()[:16]


def mask(line: str, hit: Hit) -> str:
    """The line around the hit, the value replaced; at most 120 characters."""
    if hit.line == 0:
        return "(whole file)" if hit.rule.startswith("file:") else "(path name)"
    if hit.value not in line:
        return f"[{hit.rule} masked]"
    # Branding words are the operator's own list: their first letter helps find the hit.
    shown = hit.value[0] + "***" if hit.rule.startswith("brand:") else "****"
    masked = line.replace(hit.value, f"[{shown}]")  # every occurrence, not just the first
    masked = masked.strip()
    if len(masked) > 120:
        at = max(masked.find(f"[{shown}]") - 50, 0)
        masked = ("…" if at else "") + masked[at:at + 118] + "…"
    return masked


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    excerpt: str
    fingerprint: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanReport:
    root: str
    files: int = 0
    binary: int = 0
    verified: int = 0
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    stale: list[AllowEntry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.errors:
            return ERROR
        return FINDINGS if self.findings else CLEAN

    def as_dict(self) -> dict[str, Any]:
        return {"ruleset": RULESET, "plugins": plugin_names(), "files": self.files,
                "binary": self.binary, "verified_packaged": self.verified,
                "findings": [f.as_dict() for f in self.findings],
                "suppressed": [f.as_dict() for f in self.suppressed],
                "stale": [asdict(e) for e in self.stale], "errors": self.errors,
                "exit_code": self.exit_code}

    def digest(self) -> str:
        """What a signed manifest records: the report's canonical JSON, hashed."""
        body = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def _dpkg_sums(root: Path) -> dict[str, tuple[str, str]]:
    """path -> ("md5", hex) for every file a Debian package installed (dpkg's records)."""
    sums: dict[str, tuple[str, str]] = {}
    info = root / "var/lib/dpkg/info"
    if not info.is_dir():
        return sums
    for md5file in info.glob("*.md5sums"):
        for raw in md5file.read_text(errors="replace").splitlines():
            digest, _, rel = raw.partition("  ")
            if rel:
                sums[rel.strip()] = ("md5", digest.strip())
    return sums


def _wheel_sums(root: Path, own: str = "osp") -> dict[str, tuple[str, str]]:
    """path -> ("sha256", hex) for files of installed third-party wheels (their RECORD).

    The OSP distribution itself is never trusted this way: its files are what we wrote.
    """
    sums: dict[str, tuple[str, str]] = {}
    for record in root.glob("**/site-packages/*.dist-info/RECORD"):
        dist = record.parent.name.split("-", 1)[0].lower().replace("_", "-")
        if dist == own:
            continue
        site = record.parent.parent
        for row in csv.reader(record.read_text(errors="replace").splitlines()):
            if len(row) < 2 or not row[1].startswith("sha256="):
                continue
            b64 = row[1].removeprefix("sha256=")
            try:
                digest = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
            except ValueError:
                continue
            target = os.path.normpath(site / row[0])
            try:
                rel = Path(target).relative_to(root).as_posix()
            except ValueError:
                continue
            sums[rel] = ("sha256", digest)
    return sums


def _is_verified(path: Path, rel: str, sums: dict[str, tuple[str, str]]) -> bool:
    expected = sums.get(rel)
    if expected is None:
        return False
    algo, want = expected
    h = hashlib.new(algo, usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == want


def _walk(root: Path, excludes: Iterable[str], on_error: Callable[[str], None]
          ) -> Iterable[tuple[Path, str]]:
    excl = tuple(excludes)

    def failed(err: OSError) -> None:
        on_error(f"cannot read {err.filename}: {err.strerror}")

    for dirpath, dirs, files in os.walk(root, onerror=failed):
        here = Path(dirpath)
        dirs[:] = sorted(d for d in dirs if not any(fnmatch(d, e) for e in excl))
        for name in sorted(files):
            if any(fnmatch(name, e) for e in excl):
                continue
            path = here / name
            yield path, path.relative_to(root).as_posix()


def scan_tree(root: Path, config: ReleaseConfig | None = None,
              baseline: list[AllowEntry] | None = None, *, trust_packages: bool = False,
              progress: Callable[[int], None] | None = None) -> ScanReport:
    """Scan every regular file under ``root``.

    ``trust_packages`` (image root filesystems): files a Debian package or a third-party
    wheel installed, and that still match the digest dpkg or the wheel's RECORD recorded,
    are published upstream content, not ours: counted and skipped (scanning them costs
    minutes and finds only upstream documentation examples). Any changed packaged file,
    the OSP wheel itself, and everything else (/etc edits, /opt, /data) is scanned. The
    records live in the tree being scanned: this guards against leaks, not against a
    builder who forges package records on purpose.
    """
    cfg = config or ReleaseConfig()
    report = ScanReport(str(root))
    if not root.is_dir():
        report.errors.append(f"not a directory: {root}")
        return report
    try:
        plugin_names()
    except Exception as exc:  # a scanner that cannot load its rules must not pass a build
        report.errors.append(f"secret rules unavailable: {exc}")
        return report
    sums = {**_dpkg_sums(root), **_wheel_sums(root)} if trust_packages else {}
    raw: list[Finding] = []
    for path, rel in _walk(root, cfg.excludes, report.errors.append):
        try:
            mode = path.lstat().st_mode
        except OSError as exc:
            report.errors.append(f"cannot stat {rel}: {exc.strerror}")
            continue
        if not stat.S_ISREG(mode):
            continue  # symlinks, devices, sockets: their targets are scanned where they live
        hits = [h for h in (secret_file_hit(path.name),) if h is not None]
        hits += list(cfg.branding.path_hits(rel))
        try:
            if sums and _is_verified(path, rel, sums):
                # Upstream's published file (a CA bundle named *.pem, say): only the
                # operator's branding globs and names still apply to it.
                report.verified += 1
                raw += [_finding(rel, "", h) for h in hits if h.rule.startswith("brand:")]
                continue
            if path.stat().st_size > MAX_TEXT_BYTES:
                report.errors.append(f"too large to scan: {rel}")
                continue
            data = path.read_bytes()
        except OSError as exc:
            report.errors.append(f"cannot read {rel}: {exc.strerror}")
            continue
        report.files += 1
        if progress is not None:
            progress(report.files)
        if b"\0" in data[:8192]:
            report.binary += 1
        else:
            text = data.decode("utf-8", errors="replace")
            hits += list(secret_hits(text))
            if rel != "release.toml":  # the deny-list itself names what it denies
                hits += list(cfg.branding.content_hits(text))
            lines = text.splitlines()
            raw += [_finding(rel, lines[h.line - 1] if 0 < h.line <= len(lines) else "", h)
                    for h in hits]
            continue
        raw += [_finding(rel, "", h) for h in hits]
    _apply_baseline(report, raw, baseline or [])
    return report


def _finding(rel: str, line: str, hit: Hit) -> Finding:
    return Finding(rel, hit.line, hit.rule, mask(line, hit),
                   fingerprint(hit.rule, rel, hit.value))


def _apply_baseline(report: ScanReport, raw: list[Finding], allow: list[AllowEntry]) -> None:
    used: set[int] = set()
    for finding in raw:
        match = next((i for i, e in enumerate(allow)
                      if e.fingerprint == finding.fingerprint and e.rule == finding.rule
                      and e.path == finding.path), None)
        if match is None:
            report.findings.append(finding)
        else:
            used.add(match)
            report.suppressed.append(finding)
    report.stale = [e for i, e in enumerate(allow) if i not in used]


def baseline_entries(findings: Iterable[Finding]) -> str:
    """TOML for ``[[allow]]`` entries, to review and give each a real reason."""
    out = []
    for f in findings:
        out.append("[[allow]]\n"
                   f"path = {json.dumps(f.path)}\n"
                   f"rule = {json.dumps(f.rule)}\n"
                   f"fingerprint = {json.dumps(f.fingerprint)}\n"
                   f"reason = \"\"  # line {f.line}: {f.excerpt.replace(chr(10), ' ')}\n")
    return "\n".join(out)
