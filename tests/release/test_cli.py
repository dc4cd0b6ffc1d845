"""``osp snapshot create|list|restore|delete`` and ``osp fleet status|rollback|upgrade --dry-run``
through the real CLI (a separate process on the tests' database), with real volumes under
the test session's own resource prefix: exit codes, one clean line per error, and the data
a restore or rollback puts back."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from osp.platform import Platform
from osp.release.build import BuiltImage
from osp.release.fleet import Journal, Step, Upgrade
from osp.release.manifest import ReleaseKey, sign
from osp.release.signed import manifest_store
from osp.runtime.podman import PodmanBackend, PodmanSettings
from osp.runtime.store import PlatformSecrets
from osp.tenancy.service import TenantInfo
from tests.prereqs import CONTAINER_TOOLS, require_root_and
from tests.slots import claim_slot, free_port

pytestmark = pytest.mark.podman

Run = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class Cli:
    run: Run
    backend: PodmanBackend
    data_dir: Path

    def volume(self, tenant: str) -> Path:
        name = self.backend.volume_name(tenant)
        subprocess.run(["podman", "volume", "create", "--label",
                        f"osp.installation={self.backend.settings.prefix}", name],
                       capture_output=True, check=True)
        mount = subprocess.run(["podman", "volume", "inspect", "--format",
                                "{{.Mountpoint}}", name], capture_output=True, text=True,
                               check=True).stdout.strip()
        return Path(mount)

    def drop(self, tenant: str) -> None:
        subprocess.run(["podman", "volume", "rm", "-f", self.backend.volume_name(tenant)],
                       capture_output=True)


class _ControlPlane(http.server.BaseHTTPRequestHandler):
    """Answers the internal API's health check, as a running ``osp up`` would."""

    def do_GET(self) -> None:
        ok = self.path == "/internal/v1/healthz"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if ok else b"")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def cli(platform: Platform, data_dir: Path) -> Iterator[Cli]:
    require_root_and(*CONTAINER_TOOLS)
    prefix, pool, lock = claim_slot("osc", 216)
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _ControlPlane)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "OSP_DATA_DIR": str(data_dir), "OSP_RUNTIME_PREFIX": prefix,
               "OSP_RUNTIME_POOL": pool, "OSP_INTERNAL_PORT": str(port), "COLUMNS": "200"}
        return subprocess.run([sys.executable, "-m", "osp", *args], env=env, text=True,
                              capture_output=True, timeout=300)

    yield Cli(run, PodmanBackend(PodmanSettings(prefix=prefix, pool=pool)), data_dir)
    server.shutdown()
    lock.close()


def clean_error(r: subprocess.CompletedProcess[str], needle: str, code: int = 1) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_snapshot_create_list_restore_delete(cli: Cli,
                                             make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("snap").name
    data = cli.volume(tenant)
    try:
        (data / "notes.txt").write_text("before\n")
        created = cli.run("snapshot", "create", tenant)
        assert created.returncode == 0, created.stderr
        assert f"of {tenant}:" in created.stdout and "sha256" in created.stdout
        listed = json.loads(cli.run("snapshot", "list", tenant, "--json").stdout)
        assert len(listed) == 1 and listed[0]["tenant"] == tenant
        snap = listed[0]["id"]

        (data / "notes.txt").write_text("after\n")
        (data / "new.txt").write_text("not in the snapshot\n")
        restored = cli.run("snapshot", "restore", tenant)  # the newest, tenant not running
        assert restored.returncode == 0, restored.stderr
        assert (data / "notes.txt").read_text() == "before\n"
        assert not (data / "new.txt").exists()

        archive = next((cli.data_dir / "snapshots" / tenant / snap).glob("*.gz"))
        archive.write_bytes(archive.read_bytes()[:-10])  # truncated
        clean_error(cli.run("snapshot", "restore", tenant, snap), "corrupt")
        assert (data / "notes.txt").read_text() == "before\n"  # nothing touched

        clean_error(cli.run("snapshot", "delete", tenant, "nope"), f"no snapshot nope of {tenant}")
        clean_error(cli.run("snapshot", "restore", tenant, "../../etc"), "no snapshot")
        assert cli.run("snapshot", "delete", tenant, snap).returncode == 0
        assert json.loads(cli.run("snapshot", "list", tenant, "--json").stdout) == []
        clean_error(cli.run("snapshot", "restore", tenant), f"no snapshot of {tenant}")
    finally:
        cli.drop(tenant)


def test_snapshot_bad_input_is_one_line(cli: Cli,
                                        make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("snapbad").name
    clean_error(cli.run("snapshot", "list", "no-such-tenant"), "unknown tenant")
    clean_error(cli.run("snapshot", "create", "Bad_Name"), "invalid tenant name")
    # A name is a path under the data dir: never one that leaves it.
    clean_error(cli.run("snapshot", "list", "../../etc"), "invalid tenant name")
    clean_error(cli.run("snapshot", "delete", "../snapshots", "x"), "invalid tenant name")
    clean_error(cli.run("snapshot", "restore", "..", "x"), "invalid tenant name")
    # No volume yet (never started): the export fails, nothing is listed.
    clean_error(cli.run("snapshot", "create", tenant), "podman volume export")
    assert json.loads(cli.run("snapshot", "list", tenant, "--json").stdout) == []
    assert cli.run("snapshot", "create", tenant, "--keep", "0").returncode == 2  # usage


def test_fleet_status_rollback_and_dry_run(cli: Cli, platform: Platform,
                                          make_tenant: Callable[..., TenantInfo],
                                          built_image: BuiltImage) -> None:
    # The installation's own release key signs the image (as `osp image build` does).
    sign(manifest_store(cli.data_dir),
         ReleaseKey(PlatformSecrets(platform.db, platform.vault)).private_or_create(),
         image_id=built_image.image_id, tag=built_image.tag,
         osp_version=built_image.osp_version,
         governance_version=built_image.governance_version, report={},
         report_hash="sha256:test")
    tenant = make_tenant("fleetcli").name
    data = cli.volume(tenant)
    journal = Journal(cli.data_dir / "release" / "fleet.json")
    try:
        clean_error(cli.run("fleet", "rollback"), "name a tenant or pass --all")
        clean_error(cli.run("fleet", "rollback", tenant, "--all"), "name a tenant or pass --all")
        clean_error(cli.run("fleet", "upgrade", "--image", "localhost/osp-agent:no-such",
                            "--dry-run"), "no such image")
        assert cli.run("fleet", "upgrade", "--image", "x", "--smoke-model", "bogus"
                       ).returncode == 2
        assert cli.run("fleet", "upgrade", "--image", "x", "--canary", "-1").returncode == 2

        dry = cli.run("fleet", "upgrade", "--image", built_image.image_id, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert tenant in dry.stdout and "signature and lockstep verified" in dry.stdout
        assert journal.load() is None or tenant not in {s.tenant for s in journal.load().steps}

        # What an upgrade left behind: the tenant (stopped) moved, its snapshot taken first.
        (data / "notes.txt").write_text("before the upgrade\n")
        assert cli.run("snapshot", "create", tenant).returncode == 0
        snap = json.loads(cli.run("snapshot", "list", tenant, "--json").stdout)[0]["id"]
        (data / "notes.txt").write_text("written by the new image\n")
        journal.save(Upgrade("cli0upgrade1", "sha256:" + "e" * 64, "0.1.0", 1, "done", [
            Step(tenant, built_image.image_id, built_image.governance_version, False, False,
                 0, phase="upgraded", snapshot=snap)]))

        rows = {r["tenant"]: r for r in json.loads(cli.run("fleet", "status", "--json").stdout)}
        assert rows[tenant]["upgrade_phase"] == "upgraded"
        assert rows[tenant]["state"] == "absent"

        back = cli.run("fleet", "rollback", tenant)
        assert back.returncode == 0, back.stderr
        assert f"rolled back 1 tenant(s): {tenant}" in back.stdout
        assert (data / "notes.txt").read_text() == "before the upgrade\n"
        rows = {r["tenant"]: r for r in json.loads(cli.run("fleet", "status", "--json").stdout)}
        assert rows[tenant]["upgrade_phase"] == "rolled_back"
        assert rows[tenant]["pinned"] == built_image.image_id  # its next start runs the old
        clean_error(cli.run("fleet", "rollback", tenant), "was not upgraded by upgrade "
                                                         "cli0upgrade1")
        table = cli.run("fleet", "status")
        assert table.returncode == 0 and tenant in table.stdout
    finally:
        journal.path.unlink(missing_ok=True)
        cli.drop(tenant)
