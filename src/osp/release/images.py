"""Listing and choosing built agent images."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from osp.release.build import IMAGE_REPO, BuildError


@dataclass(frozen=True)
class ImageInfo:
    image_id: str
    tags: tuple[str, ...]
    created: str
    size: int
    osp_version: str
    governance_version: str
    source: str = ""


def list_images(podman_bin: str = "podman") -> list[ImageInfo]:
    try:
        proc = subprocess.run(
            [podman_bin, "images", "--format", "json", "--filter", f"reference={IMAGE_REPO}"],
            capture_output=True, text=True, timeout=60,
        )
    except FileNotFoundError:
        raise BuildError(f"podman not found ({podman_bin})") from None
    if proc.returncode != 0:
        raise BuildError(f"podman images failed: {proc.stderr.strip()[-200:]}")
    images = []
    for row in json.loads(proc.stdout or "[]"):
        labels = row.get("Labels") or {}
        image_id = str(row.get("Id", ""))
        images.append(ImageInfo(
            image_id=image_id if image_id.startswith("sha256:") else f"sha256:{image_id}",
            tags=tuple(n for n in (row.get("Names") or []) if f"/{IMAGE_REPO}:" in f"/{n}"),
            created=str(row.get("CreatedAt", "")),
            size=int(row.get("Size", 0)),
            osp_version=str(labels.get("osp.version", "")),
            governance_version=str(labels.get("osp.governance.version", "")),
            source=str(labels.get("osp.source", "")),
        ))
    images.sort(key=lambda i: i.created, reverse=True)
    return images


def latest_image(version: str, podman_bin: str = "podman") -> ImageInfo | None:
    """Newest image built for this OSP version, or None (the caller builds one)."""
    for image in list_images(podman_bin):
        if image.osp_version == version and image.tags:
            return image
    return None


def prune_images(keep: int = 3, podman_bin: str = "podman") -> list[str]:
    """Remove agent images beyond the newest ``keep`` that no container uses.

    ``podman rmi`` without ``--force`` refuses an image a container (running or stopped)
    still uses, so a tenant's image is never pulled from under it.
    """
    if keep < 1:
        raise BuildError("keep at least one image")
    removed = []
    for image in list_images(podman_bin)[keep:]:
        proc = subprocess.run([podman_bin, "rmi", image.image_id], capture_output=True,
                              text=True, timeout=120)
        if proc.returncode == 0:
            removed.append(image.image_id)
    return removed
