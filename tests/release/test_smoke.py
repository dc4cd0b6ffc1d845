"""The fleet health gate's governed smoke message, with real containers and the real gateway:
an upgrade passes only when one message went through the tenant's rails end to end; an
image whose agent answers its health checks but whose governed path fails is rolled back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from osp.release.build import BuiltImage
from osp.release.fleet import AgentHealthGate, Fleet, Journal
from osp.release.manifest import ManifestStore, ManifestVerifier, ReleaseKey, sign
from osp.release.smoke import SMOKE_PATH, GovernedSmoke, gateway_sender
from osp.release.snapshot import SnapshotStore
from osp.tenancy.service import TenantInfo
from tests.agent.conftest import Stack, governed_image, host_model, live_tenant, stack
from tests.agent.scripted import say
from tests.images import SITE, derived_image, remove_image
from tests.release.test_signing import MemoryKeys

pytestmark = pytest.mark.podman
__all__ = ["governed_image", "host_model", "live_tenant", "stack"]

LiveTenant = Callable[..., TenantInfo]
RAILS = Path(__file__).resolve().parents[2] / "src/osp/governance/rails/__init__.py"


class Release:
    def __init__(self, stack: Stack, base: BuiltImage, tmp: Path) -> None:
        self.stack, self.base, self.tmp = stack, base, tmp
        self.store, self.keys = ManifestStore(tmp / "manifests"), MemoryKeys()
        self.images: list[str] = []
        self.names: list[str] = []

    def image(self, *changes: str, files: dict[str, bytes] | None = None) -> str:
        image = derived_image(self.base.image_id, *changes, files=files)
        self.images.append(image)
        sign(self.store, ReleaseKey(self.keys).private_or_create(), image_id=image, tag="test",
             osp_version=self.base.osp_version, governance_version=self.base.governance_version,
             report={}, report_hash="sha256:test")
        return image

    def fleet(self, mode: str) -> Fleet:
        rt = self.stack.runtime
        smoke = GovernedSmoke(
            gateway_sender(self.stack.agent.gateway), mode,
            f"http://osp-host:{rt.internal_port}{SMOKE_PATH}/v1")
        verifier = ManifestVerifier(self.store, [ReleaseKey(self.keys).private().public_key()])
        return Fleet(rt.service, SnapshotStore(self.tmp / "snapshots", self.stack.backend),
                     verifier, Journal(self.tmp / "fleet.json"),
                     AgentHealthGate(rt.service, smoke), rt.audit,
                     lambda: [self.stack.platform.tenants.get(n) for n in self.names])

    def smoke_turns(self, tenant: TenantInfo) -> list[dict[str, object]]:
        return [d for kind, d in self.stack.audit(tenant) if kind == "governance.turn"]


@pytest.fixture
def release(stack: Stack, governed_image: BuiltImage, tmp_path: Path) -> Iterator[Release]:
    r = Release(stack, governed_image, tmp_path)
    yield r
    for image in r.images:
        remove_image(image)


def test_an_upgrade_passes_the_gate_with_one_governed_message(
        release: Release, live_tenant: LiveTenant) -> None:
    tenant = live_tenant()
    release.names.append(tenant.name)
    stack = release.stack
    stack.model.reset()

    # Scripted: the control plane's canned model answers; the tenant's model is not used.
    good = release.image()
    fleet = release.fleet("scripted")
    result = fleet.run(fleet.plan(good))
    assert result.status == "done", [(s.tenant, s.error) for s in result.steps]
    assert stack.runtime.service.status(tenant).image_digest == good
    assert stack.model.seen == []
    turns = release.smoke_turns(tenant)
    assert len(turns) == 1 and turns[0]["outcome"] == "answered"
    stages = turns[0]["stages"]
    assert isinstance(stages, dict) and {"input", "output"} <= set(stages)
    assert set(stages.values()) == {"allow"}, stages

    # Tenant: the tenant's own model answers the smoke message.
    stack.model.reset(say("Hello from the tenant's model."))
    newer = release.image()
    fleet = release.fleet("tenant")
    result = fleet.run(fleet.plan(newer))
    assert result.status == "done", [(s.tenant, s.error) for s in result.steps]
    assert len(stack.model.seen) == 1
    assert "Release health check" in stack.model.seen[0].text()
    assert len(release.smoke_turns(tenant)) == 2


def test_an_agent_healthy_but_unable_to_govern_is_rolled_back(
        release: Release, live_tenant: LiveTenant) -> None:
    tenant = live_tenant()
    release.names.append(tenant.name)
    stack = release.stack
    # /healthz and the authenticated /status answer (they need no rails); every message
    # fails closed because this build's rails cannot be built.
    broken = RAILS.read_bytes() + (b"\n\ndef builtin_registry() -> RailRegistry:\n"
                                   b"    raise RuntimeError('rails broken in this build')\n")
    bad = release.image(files={f"{SITE}/osp/governance/rails/__init__.py": broken})

    fleet = release.fleet("scripted")
    result = fleet.run(fleet.plan(bad))

    assert result.status == "halted"
    step, = result.steps
    assert step.phase == "rolled_back", step
    assert step.error.startswith("smoke message refused"), step.error
    status = stack.runtime.service.status(tenant)
    assert status.image_digest == release.base.image_id and status.state == "running"
    kinds = [kind for kind, _ in stack.audit(tenant)]
    assert "release.upgrade_rolled_back" in kinds
    turn, = release.smoke_turns(tenant)
    assert turn["outcome"] == "refused"
