"""Golden agent image: Debian minbase + Python venv with the OSP wheel, entrypoint osp-agent.

Pipeline (each step reported through ``progress``):

1. base root filesystem: ``debootstrap --variant=minbase`` once, trimmed, cached as a tar
   under ``<cache_dir>`` and reused by every later build;
2. unpack it into a scratch directory; create the venv and install the OSP wheel into it
   offline (``--no-deps --no-index``: the agent is stdlib-only, so the control plane's
   dependencies, among them an embedded PostgreSQL, never ship in the agent image);
3. harden: non-root user 10001, ``/data`` owned by it, set-uid bits stripped;
4. **release gates** (:data:`ReleaseHook`): the leak-scan gate and the brand overlay of a
   later issue plug in here. A hook that raises :class:`BuildRefused` stops the build and
   no image is produced (the gate is blocking, not advisory);
5. ``podman import`` the tree and tag it ``osp-agent:<version>-<digest12>``; tags embed the
   content digest, so a tag can never be re-pointed at other content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import osp

IMAGE_REPO = "osp-agent"
AGENT_UID = 10001
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv")
VENV = "/opt/osp/venv"
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info",
        "var/cache/apt", "var/lib/apt/lists", "var/log")

Progress = Callable[[str], None]


class BuildError(Exception):
    """One-line reason the image could not be built."""


class BuildRefused(BuildError):
    """A release gate refused the build (e.g. a leaked secret was found)."""


@dataclass(frozen=True)
class BuildContext:
    rootfs: Path
    osp_version: str
    governance_version: str
    source_digest: str = ""


# A release gate inspects or changes the finished root filesystem before it is packaged.
ReleaseHook = Callable[[BuildContext], None]


@dataclass(frozen=True)
class BuiltImage:
    image_id: str  # "sha256:<64 hex>"
    tag: str
    osp_version: str
    governance_version: str

    @property
    def reference(self) -> str:
        return f"localhost/{self.tag}"


def governance_version() -> str:
    """The governance library ships in the same wheel, so it versions in lockstep."""
    try:
        from osp import governance  # optional until that package lands

        return str(getattr(governance, "__version__", osp.__version__))
    except ImportError:
        return osp.__version__


def policy_schema_hash() -> str:
    """Hash of the policy schema this image's governance layer reads."""
    from osp.governance.schema import schema_hash

    return schema_hash()


def tree_schema_hash(rootfs: Path) -> str:
    """Hash of the policy schema the governance *inside this tree* reads, for the image's
    label: not this process's copy, which can differ when the source changes mid-build
    (a label naming a schema the image does not carry would defeat the lockstep)."""
    found = sorted(rootfs.glob(VENV.lstrip("/") + "/lib/python3*/site-packages/osp/"
                                               "governance/policy.schema.json"))
    if len(found) != 1:
        raise BuildError("the image tree has no (or several) governance policy schema")
    return "sha256:" + hashlib.sha256(found[0].read_bytes()).hexdigest()


def _run(argv: Sequence[str], what: str, timeout: float = 900) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise BuildError(f"{what}: {argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what}: timed out") from None
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
        raise BuildError(f"{what} failed: {tail[-1] if tail else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def source_digest(wheel: Path | None = None) -> str:
    """Digest of what goes into the image (the wheel, or the package sources and build
    recipe); an image carrying the same digest can be reused instead of rebuilt."""
    h = hashlib.sha256(f"{SUITE}|{BASE_PACKAGES}|{AGENT_UID}|{VENV}".encode())
    if wheel is not None:
        h.update(wheel.read_bytes())
        return h.hexdigest()
    package = Path(osp.__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def source_root() -> Path:
    """The checkout this osp is installed from (editable install), to build its wheel."""
    root = Path(osp.__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise BuildError("no OSP source tree found: pass a wheel with --wheel")
    return root


@dataclass
class ImageBuilder:
    cache_dir: Path
    podman_bin: str = "podman"
    hooks: Sequence[ReleaseHook] = field(default_factory=tuple)
    mirror: str | None = None

    @property
    def base_tar(self) -> Path:
        key = hashlib.sha256(f"{SUITE}:{','.join(BASE_PACKAGES)}".encode()).hexdigest()[:12]
        return self.cache_dir / f"rootfs-{SUITE}-minbase-{key}.tar"

    def ensure_base(self, progress: Progress) -> Path:
        if self.base_tar.is_file():
            progress("base root filesystem: cached")
            return self.base_tar
        progress("base root filesystem: debootstrap (about a minute, cached afterwards)")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix="debootstrap-") as tmp:
            root = Path(tmp) / "rootfs"
            argv = ["debootstrap", "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}", SUITE, str(root)]
            if self.mirror:
                argv.append(self.mirror)
            _run(argv, "debootstrap", timeout=1800)
            for rel in TRIM:
                target = root / rel
                if target.is_dir():
                    for child in target.iterdir():
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child)
                        else:
                            child.unlink()
            partial = self.base_tar.with_suffix(".partial")
            _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], "tar")
            partial.rename(self.base_tar)  # atomic: a crashed build never leaves a bad cache
        return self.base_tar

    def build_wheel(self, out: Path, progress: Progress) -> Path:
        progress("wheel: building the OSP wheel")
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
              "-q", "-w", str(out), str(source_root())], "wheel build")
        wheels = sorted(out.glob("osp-*.whl"))
        if not wheels:
            raise BuildError("wheel build produced no osp wheel")
        return wheels[-1]

    def build(self, progress: Progress | None = None, wheel: Path | None = None,
              reuse: bool = False,
              accept: Callable[[BuiltImage], bool] | None = None) -> BuiltImage:
        """Build the image; with ``reuse``, return an existing one built from the same inputs
        (release gates ran on it when it was built, so nothing is skipped) that ``accept``,
        when given, admits."""
        report = progress or (lambda _msg: None)
        digest = self._digest(wheel)
        if reuse:
            found = self._find(digest, accept)
            if found is not None:
                report(f"up to date: {found.tag}")
                return found
        if os.geteuid() != 0:
            raise BuildError("image build needs root (debootstrap, chroot)")
        base = self.ensure_base(report)
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix="build-") as tmp:
            work = Path(tmp)
            root = work / "rootfs"
            root.mkdir()
            report("unpack base root filesystem")
            _run(["tar", "--numeric-owner", "-C", str(root), "-xf", str(base)], "unpack")
            whl = wheel or self.build_wheel(work, report)
            ctx = BuildContext(root, osp.__version__, governance_version(), digest)
            self._install(ctx, whl, report)
            self._harden(ctx, report)
            for hook in self.hooks:
                report(f"release gate: {getattr(hook, '__name__', 'hook')}")
                hook(ctx)  # BuildRefused propagates: no image is produced
            return self._package(ctx, work, report)

    def _digest(self, wheel: Path | None) -> str:
        # Hooks change the image too: their names (and a fingerprint, for a hook that
        # offers one, e.g. pinned dependency versions) are part of what "same inputs" means.
        parts = [source_digest(wheel)]
        for hook in self.hooks:
            fingerprint = getattr(hook, "fingerprint", None)
            parts.append(getattr(hook, "__name__", type(hook).__name__))
            if callable(fingerprint):
                parts.append(str(fingerprint()))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def _find(self, digest: str,
              accept: Callable[[BuiltImage], bool] | None) -> BuiltImage | None:
        from osp.release.images import list_images  # images.py imports this module

        for image in list_images(self.podman_bin):
            if image.source == digest and image.tags and image.osp_version == osp.__version__:
                tag = image.tags[0].removeprefix("localhost/")
                built = BuiltImage(image.image_id, tag, image.osp_version,
                                   image.governance_version)
                if accept is None or accept(built):
                    return built
        return None

    def _install(self, ctx: BuildContext, whl: Path, progress: Progress) -> None:
        progress("venv: install the OSP wheel (offline, no dependencies)")
        staged = ctx.rootfs / "tmp" / whl.name
        shutil.copy2(whl, staged)
        chroot = ["chroot", str(ctx.rootfs)]
        env_clean = ["/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                     "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1"]
        _run([*chroot, *env_clean, "python3", "-m", "venv", VENV], "venv")
        _run([*chroot, *env_clean, f"{VENV}/bin/python", "-m", "pip", "install", "-q",
              "--no-deps", "--no-index", "--no-compile",
              f"/tmp/{whl.name}"],  # noqa: S108 - a path inside the build chroot
             "pip install")
        # Precompile: the root filesystem is read-only at run time.
        _run([*chroot, *env_clean, f"{VENV}/bin/python", "-m", "compileall", "-q",
              f"{VENV}/lib"], "compileall")
        staged.unlink()
        release = {"osp_version": ctx.osp_version, "governance_version": ctx.governance_version}
        (ctx.rootfs / "opt/osp/release.json").write_text(json.dumps(release, sort_keys=True))

    def _harden(self, ctx: BuildContext, progress: Progress) -> None:
        progress("harden: non-root user, /data, no set-uid binaries")
        root = ctx.rootfs
        with open(root / "etc/passwd", "a") as fh:
            fh.write(f"osp:x:{AGENT_UID}:{AGENT_UID}:osp agent:/data:/usr/sbin/nologin\n")
        with open(root / "etc/group", "a") as fh:
            fh.write(f"osp:x:{AGENT_UID}:\n")
        data = root / "data"
        data.mkdir(mode=0o700, exist_ok=True)
        # Podman copies a mount point's owner onto a new named volume: /data becomes the
        # agent's without running anything as root at start.
        os.chown(data, AGENT_UID, AGENT_UID)
        (root / "run/osp/bootstrap").mkdir(parents=True, exist_ok=True)
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                with contextlib.suppress(OSError):
                    mode = path.lstat().st_mode
                    if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
                        path.chmod(mode & ~(stat.S_ISUID | stat.S_ISGID))

    def _package(self, ctx: BuildContext, work: Path, progress: Progress) -> BuiltImage:
        progress("package: podman import")
        tar = work / "image.tar"
        _run(["tar", "--numeric-owner", "-C", str(ctx.rootfs), "-cf", str(tar), "."], "tar")
        changes = [
            f'ENTRYPOINT ["{VENV}/bin/osp-agent"]',
            f"ENV PATH={VENV}/bin:/usr/bin:/bin",
            "ENV PYTHONDONTWRITEBYTECODE=1",
            f"USER {AGENT_UID}:{AGENT_UID}",
            "WORKDIR /data",
            f"LABEL osp.version={ctx.osp_version}",
            f"LABEL osp.governance.version={ctx.governance_version}",
            f"LABEL osp.source={ctx.source_digest}",
            # Lockstep: the control plane reads these before sending a policy to this agent.
            f"LABEL osp.policy.schema={tree_schema_hash(ctx.rootfs)}",
        ]
        from osp.release.brand import brand_label  # brand.py imports this module

        product = brand_label(ctx.rootfs)
        if product:
            changes.append(f"LABEL osp.brand.product={json.dumps(product)}")
        argv = [self.podman_bin, "import"]
        for change in changes:
            argv += ["--change", change]
        out = _run([*argv, str(tar)], "podman import")
        image_id = out.strip().splitlines()[-1].strip()
        if not image_id.startswith("sha256:"):
            image_id = "sha256:" + image_id
        tag = f"{IMAGE_REPO}:{ctx.osp_version}-{image_id.removeprefix('sha256:')[:12]}"
        _run([self.podman_bin, "tag", image_id, tag], "podman tag")
        progress(f"done: {tag}")
        return BuiltImage(image_id, tag, ctx.osp_version, ctx.governance_version)
