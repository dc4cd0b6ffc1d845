"""Images derived from the built agent image for tests: a file changed, a label or the
entrypoint replaced, in seconds (``podman commit``), instead of a full build."""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from pathlib import Path

SITE = "/opt/osp/venv/lib/python3.11/site-packages"
ENTRYPOINT = 'ENTRYPOINT ["/opt/osp/venv/bin/osp-agent"]'


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def derived_image(base: str, *changes: str, files: dict[str, bytes] | None = None,
                  new_dir: tuple[str, dict[str, bytes]] | None = None) -> str:
    """A new image from ``base`` (labels kept): a marker file (so the digest is new), the
    given ``files`` (absolute path in the image -> content), a new directory
    (``(path, {name: content})``) and ``--change`` lines."""
    container = podman("create", "--runtime", "runc", "--entrypoint", "/bin/true", base)
    try:
        argv = ["commit", "-q"]
        # The container was created with another entrypoint; commit would keep that one.
        for change in (ENTRYPOINT, *changes):
            argv += ["--change", change]
        wanted = {"/opt/osp/marker": uuid.uuid4().hex.encode(), **(files or {})}
        with tempfile.TemporaryDirectory() as tmp:
            for i, (target, content) in enumerate(wanted.items()):
                local = Path(tmp) / str(i)
                local.write_bytes(content)
                local.chmod(0o644)
                podman("cp", str(local), f"{container}:{target}")
            if new_dir is not None:
                directory = Path(tmp) / "dir"
                directory.mkdir(mode=0o755)
                directory.chmod(0o755)
                for name, content in new_dir[1].items():
                    (directory / name).write_bytes(content)
                    (directory / name).chmod(0o644)
                podman("cp", str(directory), f"{container}:{new_dir[0]}")
        image_id = podman(*argv, container)
    finally:
        podman("rm", "-f", container)
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def remove_image(image_id: str) -> None:
    subprocess.run(["podman", "rmi", "-f", image_id], capture_output=True)
