"""Removing the last tenant, or the installation, leaves no firewall table, network, volume
or container of it behind (real Podman and nftables, through the `osp` CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from osp.release.build import BuiltImage
from osp.runtime.podman import LABEL_INSTALL, PodmanBackend, PodmanSettings
from tests.prereqs import CONTAINER_TOOLS, require_root_and
from tests.slots import claim_slot, free_port


def _left(backend: PodmanBackend) -> list[str]:
    label = f"label={LABEL_INSTALL}={backend.settings.prefix}"
    found = [f"container {r['Id']}" for r in backend._json(
        "ps", "-a", "--format", "json", "--filter", label) or []]
    found += [f"network {n['name']}" for n in backend._networks()
              if (n.get("labels") or {}).get(LABEL_INSTALL) == backend.settings.prefix]
    found += [f"volume {v['Name']}" for v in backend._json(
        "volume", "ls", "--format", "json", "--filter", label) or []]
    if backend.firewall.present(backend.table):
        found.append("nft table")
    return found


def _leave_traces(backend: PodmanBackend, image: BuiltImage, tenant: str) -> None:
    backend.prepare()
    backend._ensure_network(tenant, ())
    backend._podman("volume", "create", "--label", f"{LABEL_INSTALL}={backend.settings.prefix}",
                    backend.volume_name(tenant))
    backend._podman("create", "--label", f"{LABEL_INSTALL}={backend.settings.prefix}",
                    "--name", backend.container_name(tenant), image.image_id)


def test_last_tenant_delete_and_uninstall_leave_nothing(tmp_path: Path,
                                                        agent_image: BuiltImage) -> None:
    require_root_and(*CONTAINER_TOOLS)
    prefix, pool, lock = claim_slot("osu", 216)
    data = tmp_path / "install"
    env = {**os.environ, "OSP_DATA_DIR": str(data), "OSP_RUNTIME_PREFIX": prefix,
           "OSP_RUNTIME_POOL": pool, "OSP_INTERNAL_PORT": str(free_port())}
    env.pop("OSP_DATABASE_URL", None)

    def osp(*args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "osp", *args], env=env, capture_output=True,
                           text=True, timeout=180)
        assert r.returncode == 0, r.stderr
        return r

    backend = PodmanBackend(PodmanSettings(prefix=prefix, pool=pool,
                                           internal_api_port=int(env["OSP_INTERNAL_PORT"])))
    try:
        osp("db", "migrate")
        osp("tenant", "create", "solo")
        _leave_traces(backend, agent_image, "solo")
        assert "nft table" in _left(backend)
        out = osp("tenant", "delete", "solo", "--yes").stdout
        assert _left(backend) == [] and "nft table" in out

        osp("tenant", "create", "again")
        _leave_traces(backend, agent_image, "again")
        out = osp("system", "uninstall", "--yes").stdout
        assert _left(backend) == [], out
        assert not data.exists() and f"removed {data}" in out
    finally:
        backend.uninstall()
        lock.close()
