"""End to end: Postgres + vault + internal API + real containers (SPEC sections A and C)."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from osp.platform import Platform
from osp.runtime.bootstrap import BootstrapService
from osp.runtime.cli import _print_status
from osp.runtime.podman import PodmanBackend
from osp.runtime.wiring import RuntimeParts, internal_app
from osp.tenancy.service import TenantInfo
from tests import fakes

pytestmark = pytest.mark.podman
ACTOR = "test:operator"
CANARY = fakes.model_key()  # generated per run: the value to hunt for


def put_secret(platform: Platform, tenant: TenantInfo, name: str, value: str) -> None:
    with platform.db.tenant(tenant.id) as s:
        platform.vault.put(s, tenant.id, name, value.encode(), ACTOR)


def audit_of(platform: Platform, tenant: TenantInfo) -> list[tuple[str, dict[str, Any]]]:
    with platform.db.tenant(tenant.id) as s:
        return [(e.kind, e.details) for e in platform.audit.list(s, tenant.id, limit=500)]


def grep_tree(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                hits.append(str(path))
        except OSError:
            continue
    return hits


def test_canary_secret_reaches_only_the_agents_memory(
        podman_parts: RuntimeParts, backend: PodmanBackend, platform: Platform,
        make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant("can")
    put_secret(platform, t, "MODEL_API_KEY", CANARY)
    put_secret(platform, t, "SLACK_TOKEN", fakes.slack_bot_token())
    status = podman_parts.service.start(t, ACTOR)
    assert status.secrets == ["MODEL_API_KEY", "SLACK_TOKEN"]
    assert status.state == "running" and status.image_digest.startswith("sha256:")
    assert status.governance_version and status.uptime_s is not None
    needle = CANARY.encode()
    name = backend.container_name(t.name)

    inspect = backend._podman("container", "inspect", name).stdout
    assert CANARY not in inspect
    logs = backend.logs(t.name)
    assert CANARY not in logs and "agent.ready" in logs
    environ = backend.exec(t.name, ["sh", "-c", "cat /proc/[0-9]*/environ | tr '\\0' '\\n'"])
    assert environ.returncode == 0 and "OSP_TENANT" in environ.stdout
    assert CANARY not in environ.stdout and "BOOTSTRAP_TOKEN=" not in environ.stdout
    # The token file was wiped once traded: nothing left to replay from inside.
    token_left = backend.exec(t.name, ["sh", "-c", "wc -c < /run/osp/bootstrap/token"])
    assert token_left.stdout.strip() == "0"
    assert not list(backend.settings.token_dir.glob(status.instance_id))

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "fs.tar"
        backend._podman("export", "-o", str(export), name)
        assert needle not in export.read_bytes()
        image = Path(tmp) / "image.tar"
        backend._podman("image", "save", "-o", str(image), status.image_digest)
        assert needle not in image.read_bytes()
    volume = json.loads(backend._podman("volume", "inspect",
                                        backend.volume_name(t.name)).stdout)[0]
    assert not grep_tree(Path(volume["Mountpoint"]), needle)
    assert not grep_tree(platform.settings.data_dir, needle)
    # Audit says which secrets were handed out, by name only.
    exchanged = [d for k, d in audit_of(platform, t) if k == "runtime.bootstrap.exchanged"]
    assert exchanged and exchanged[-1]["names"] == ["MODEL_API_KEY", "SLACK_TOKEN"]
    assert CANARY not in json.dumps(audit_of(platform, t))


def test_rotation_is_a_vault_write_plus_restart(
        podman_parts: RuntimeParts, platform: Platform,
        make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant("rot")
    put_secret(platform, t, "MODEL_API_KEY", "first-value-aaaaaaaa")
    first = podman_parts.service.start(t, ACTOR)
    put_secret(platform, t, "MODEL_API_KEY", "second-value-bbbbbbb")
    put_secret(platform, t, "EXTRA", "added-after-boot")
    second = podman_parts.service.restart(t, ACTOR)
    assert second.instance_id != first.instance_id
    assert second.container_id != first.container_id
    assert second.secrets == ["EXTRA", "MODEL_API_KEY"]


def test_bootstrap_token_replay_expiry_and_wrong_tenant_are_refused_and_audited(
        podman_parts: RuntimeParts, platform: Platform,
        make_tenant: Callable[..., TenantInfo]) -> None:
    a, b = make_tenant("boa"), make_tenant("bob")
    client = TestClient(internal_app(podman_parts))

    def trade(token: str, tenant: str, instance: str) -> int:
        return client.post("/internal/v1/bootstrap/exchange",
                           json={"tenant": tenant, "instance_id": instance},
                           headers={"Authorization": f"Bearer {token}"}).status_code

    # Wrong tenant: a's token presented under b's name is unknown there, and stays a's.
    token = podman_parts.bootstrap.issue(a.name, "inst-a")
    assert trade(token, b.name, "inst-a") == 401
    # Not from a's container (the test client is not at a's address): refused, token burnt.
    assert trade(token, a.name, "inst-a") == 401
    assert trade(token, a.name, "inst-a") == 401  # replay
    # Expiry: a service whose clock is 61 s ahead sees the same token as expired.
    late = BootstrapService(podman_parts.bootstrap.store, podman_parts.bootstrap.secret_source,
                            podman_parts.bootstrap.audit, podman_parts.bootstrap.runtime_key,
                            clock=lambda: datetime.now(UTC) + timedelta(seconds=61))
    fresh = podman_parts.bootstrap.issue(a.name, "inst-b")
    with pytest.raises(Exception, match="expired"):
        late.exchange(fresh, a.name, "inst-b")
    reasons_a = [d["reason"] for k, d in audit_of(platform, a)
                 if k == "runtime.bootstrap.refused"]
    assert reasons_a == ["wrong_peer", "replay", "expired"]
    reasons_b = [d["reason"] for k, d in audit_of(platform, b)
                 if k == "runtime.bootstrap.refused"]
    assert reasons_b == []  # a request naming b proved nothing: not in b's trail ...
    claimed = [e.details for e in platform.unproven.list(500)
               if e.kind == "runtime.bootstrap.refused"]
    assert claimed[-1]["reason"] == "unknown_token"  # ... but in the platform trail
    assert claimed[-1]["claimed_tenant"] == b.name


def test_a_live_agents_token_cannot_be_replayed(podman_parts: RuntimeParts,
                                                backend: PodmanBackend, platform: Platform,
                                                make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant("rep")
    podman_parts.service.start(t, ACTOR)
    # Re-running the agent's boot inside the container finds the token wiped.
    again = backend.exec(t.name, ["/opt/osp/venv/bin/osp-agent"])
    assert again.returncode == 78
    assert "already used" in again.stderr or "missing" in again.stderr
    assert "CANARY" not in again.stderr


def test_suspend_a_leaves_b_serving_and_resume_keeps_data(
        podman_parts: RuntimeParts, backend: PodmanBackend, platform: Platform,
        make_tenant: Callable[..., TenantInfo]) -> None:
    a, b = make_tenant("sua"), make_tenant("sub")
    podman_parts.service.start(a, ACTOR)
    b_status = podman_parts.service.start(b, ACTOR)
    wrote = backend.exec(a.name, ["sh", "-c", "echo remember-me > /data/memory.txt"])
    assert wrote.returncode == 0, wrote.stderr
    b_url = backend.status(b.name).agent_url
    b_started = backend.status(b.name).started_at

    podman_parts.service.suspend(a, ACTOR, "subscription.canceled")
    assert backend.status(a.name).state.value == "absent"
    assert httpx.get(b_url + "/healthz", timeout=2).status_code == 200
    assert backend.status(b.name).started_at == b_started  # b was never touched
    assert podman_parts.service.status(b).secrets == b_status.secrets

    podman_parts.service.resume(a, ACTOR, "operator")
    kept = backend.exec(a.name, ["cat", "/data/memory.txt"])
    assert kept.stdout.strip() == "remember-me"
    assert podman_parts.service.status(a).state == "running"


def test_podman_missing_or_broken_is_a_clear_error_and_changes_nothing(
        podman_parts: RuntimeParts, platform: Platform,
        make_tenant: Callable[..., TenantInfo], tmp_path: Path) -> None:
    from dataclasses import replace

    from osp.runtime.service import EngineError

    t = make_tenant("pdn")
    real = podman_parts.backend
    assert isinstance(real, PodmanBackend)
    broken = tmp_path / "podman"
    broken.write_text("#!/bin/sh\necho 'Error: cannot connect to Podman socket' >&2\nexit 125\n")
    broken.chmod(0o755)
    before = audit_of(platform, t)
    for binary, message in ((str(tmp_path / "missing"), "podman not found"),
                            (str(broken), "cannot connect to Podman")):
        podman_parts.service.backend = PodmanBackend(replace(real.settings, podman_bin=binary))
        try:
            with pytest.raises(EngineError, match=message):
                podman_parts.service.start(t, ACTOR)
        finally:
            podman_parts.service.backend = real
    assert platform.tenants.get(t.name).state == "active"
    assert podman_parts.service.repo.get(t.id).desired == "stopped"
    assert audit_of(platform, t) == before


def test_cli_status_json_shows_names_not_values(podman_parts: RuntimeParts,
                                                platform: Platform,
                                                make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant("cli")
    put_secret(platform, t, "MODEL_API_KEY", CANARY)
    podman_parts.service.start(t, ACTOR)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        _print_status(podman_parts.service.status(t), as_json=True)
    data = json.loads(buf.getvalue())
    assert data["secrets"] == ["MODEL_API_KEY"] and CANARY not in buf.getvalue()
    assert {"state", "container_id", "image_digest", "governance_version", "uptime_s"} <= set(data)


def test_a_start_of_a_stopped_tenant_replaces_its_container_and_knows_its_address(
        podman_parts: RuntimeParts, backend: PodmanBackend,
        make_tenant: Callable[..., TenantInfo]) -> None:
    """The start path skips the inspects and the `podman rm` it used to make: the old
    container goes in the same engine call (`run --replace`) and the status a start returns
    is what it created. Both must still be what the engine says."""
    t = make_tenant("rpl")
    podman_parts.service.start(t, ACTOR)
    old = backend.status(t.name)
    podman_parts.service.stop(t, ACTOR)
    status = podman_parts.service.start(t, ACTOR)
    now = backend.status(t.name)
    assert now.state.value == "running" and now.instance_id != old.instance_id
    assert (status.ip, status.container_id, status.instance_id) == \
        (now.ip, now.container_id[:12], now.instance_id)
    assert status.secrets == []  # the agent's /status answered the returned status
    rows = backend._json("ps", "-a", "--format", "json", "--filter",
                         f"name=^{backend.container_name(t.name)}$")
    assert len(rows) == 1  # replaced, not added
    assert not backend._token_path(old.instance_id).exists()
    assert not backend._token_path(now.instance_id).exists()  # traded and wiped


def test_agent_restart_after_crash_needs_a_new_instance(podman_parts: RuntimeParts,
                                                       backend: PodmanBackend,
                                                       make_tenant: Callable[..., TenantInfo]
                                                       ) -> None:
    """A plain engine restart of an old container cannot re-use its spent token."""
    t = make_tenant("crs")
    podman_parts.service.start(t, ACTOR)
    name = backend.container_name(t.name)
    engine_restart = backend._podman("restart", "--time", "1", name, check=False)
    if engine_restart.returncode == 0:  # it came up: the agent must refuse to run
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and backend.status(t.name).state.value == "running":
            time.sleep(0.2)
        assert backend.status(t.name).exit_code == 78
    else:  # the token file it would mount is gone: the engine cannot even start it
        assert "bootstrap" in engine_restart.stderr
    assert backend.status(t.name).state.value != "running"
    assert podman_parts.service.restart(t, ACTOR).state == "running"


def test_configured_model_endpoint_on_the_host_is_reachable_only_once_allowed(
        podman_parts: RuntimeParts, backend: PodmanBackend,
        make_tenant: Callable[..., TenantInfo]) -> None:
    from tests.runtime.probe import connect_from, host_listener
    from tests.slots import free_port

    t = make_tenant("mdl")
    port = free_port()
    with host_listener(port):
        podman_parts.service.start(t, ACTOR)
        gateway = backend.status(t.name).gateway
        assert connect_from(backend, t.name, [f"{gateway}:{port}"])[f"{gateway}:{port}"] \
            != "open"
        podman_parts.service.set_limits(t, ACTOR, host_ports=(port,))
        podman_parts.service.restart(t, ACTOR)
        gateway = backend.status(t.name).gateway
        assert connect_from(backend, t.name, [f"{gateway}:{port}"])[f"{gateway}:{port}"] \
            == "open"
