"""Release hook: install the governed agent's run-time dependencies into the image's venv.

The image build installs the OSP wheel with ``--no-deps`` (the control plane's dependencies,
an embedded PostgreSQL among them, must never ship to tenants). The governance layer and the
agent loop need a few libraries, listed in :data:`AGENT_REQUIREMENTS`; this hook downloads
their wheels on the build host once (cached), then installs them offline inside the chroot,
pinned to the versions the host runs, so agent and control plane test the same code.

It also drops the semantic tier's encoder (ONNX model, tokenizer, heads) from the installed
wheel: inside a container the semantic rails score through the control plane's one shared
encoder (``osp.agent.scoring``), so the files would only be dead weight in every tenant's image.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from osp.release.build import VENV, BuildContext, BuildError

# cryptography: the agent seals what it keeps on the tenant's volume (osp.agent.sealing).
AGENT_REQUIREMENTS = ("pydantic", "numpy", "phonenumbers", "bm25s", "cryptography")
# Where the encoder lands inside the image's venv (site-packages path under VENV/lib).
ENCODER_IN_VENV = "osp/governance/detectors/weights/encoder"


def pinned() -> list[str]:
    out = []
    for name in AGENT_REQUIREMENTS:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise BuildError(f"{name} is not installed on the build host") from None
    return out


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise BuildError(f"{what} failed: {tail[-1] if tail else proc.returncode}")


def wheelhouse(cache_dir: Path) -> Path:
    reqs = pinned()
    key = hashlib.sha256(" ".join(reqs).encode()).hexdigest()[:12]
    target = cache_dir / f"agent-wheels-{key}"
    if (target / ".complete").exists():
        return target
    partial = cache_dir / f"agent-wheels-{key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
          "--dest", str(partial), *reqs], "download agent dependencies")
    (partial / ".complete").write_text("\n".join(reqs))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


class InstallAgentDeps:
    """A ``ReleaseHook``: ``ImageBuilder(cache, hooks=[InstallAgentDeps(cache)])``."""

    __name__ = "install_agent_deps"

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    def fingerprint(self) -> str:
        """Part of the image reuse key: a change of pinned versions rebuilds the image."""
        return " ".join(pinned())

    def __call__(self, ctx: BuildContext) -> None:
        source = wheelhouse(self.cache_dir)
        staged = ctx.rootfs / "tmp" / "agent-wheels"
        shutil.copytree(source, staged)
        try:
            env = ["/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                   "PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1"]
            chroot = ["chroot", str(ctx.rootfs), *env]
            _run([*chroot, f"{VENV}/bin/python", "-m", "pip", "install", "-q", "--no-index",
                  "--no-compile", "--find-links", "/tmp/agent-wheels", *pinned()],  # noqa: S108
                 "install agent dependencies")
            _run([*chroot, f"{VENV}/bin/python", "-m", "compileall", "-q", f"{VENV}/lib"],
                 "compileall")
            drop_encoder(ctx.rootfs)
        finally:
            shutil.rmtree(staged, ignore_errors=True)


def drop_encoder(rootfs: Path) -> list[Path]:
    """Removes the encoder's files from the image's venv; returns the directories removed."""
    lib = rootfs / VENV.lstrip("/") / "lib"
    gone = sorted(lib.glob(f"python3*/site-packages/{ENCODER_IN_VENV}"))
    for path in gone:
        shutil.rmtree(path)
    return gone
