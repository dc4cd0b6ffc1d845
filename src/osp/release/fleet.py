"""Fleet upgrades: canary waves, a health gate, automatic rollback, halt after K failures.

For each tenant, wave by wave (canaries first)::

    stop -> snapshot /data -> start on the new image -> health gate -> next
                                         \\-- gate fails --> stop, restore the snapshot,
                                                            start the old image (rollback)

Stop before the snapshot, so the snapshot is consistent (the agent is not writing).
Suspended tenants are snapshotted and recorded as upgraded without being started.
After ``max_failures`` rolled-back tenants the upgrade halts: the rest never leave the old
image. Every step is written to a journal (``<data_dir>/release/fleet.json``) *before* it
is taken, so a control plane killed mid-wave can be finished by :meth:`Fleet.recover` on
the next ``osp up``: a tenant caught between "stopped" and "healthy on the new image" is
rolled back to its snapshot and old image; tenants already done stay on the new image.
No tenant is ever left half-upgraded.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from osp.errors import Conflict, OspError
from osp.release.build import policy_schema_hash
from osp.release.manifest import Manifest
from osp.release.snapshot import Snapshot, SnapshotStore
from osp.tenancy.service import TenantInfo

ACTOR = "system:fleet"


class TenantView(Protocol):
    tenant_state: str
    desired: str
    state: str
    image_digest: str
    governance_version: str
    image_pinned: str
    secrets: list[str] | None


class Runtime(Protocol):
    """What the fleet needs of the runtime service (osp.runtime.service.RuntimeService)."""

    def start_image(self, info: TenantInfo, actor: str, image_id: str,
                    governance_version: str, *, kind: str = ..., wait: bool = ...) -> Any: ...

    def stop(self, info: TenantInfo, actor: str) -> Any: ...

    def pin(self, info: TenantInfo, actor: str, image_id: str, kind: str = ...) -> None: ...

    def status(self, info: TenantInfo) -> TenantView: ...


class Verifier(Protocol):
    def verify(self, reference: str) -> Manifest: ...


class HealthGate(Protocol):
    ready_at: float  # time.monotonic() when the agent answered, before the smoke message

    def check(self, tenant: TenantInfo, image_id: str) -> str | None:
        """None when healthy on ``image_id``, else the reason (one line)."""


class AgentHealthGate:
    """Healthy = running on the expected image, ``/healthz`` answered (the start waits for
    it), and the agent's authenticated ``/status`` answers, which it only does after the
    bootstrap exchange delivered its secrets. ``smoke`` adds one governed message end to
    end when the operator wires one (``--smoke-model``, :mod:`osp.release.smoke`)."""

    def __init__(self, runtime: Runtime,
                 smoke: Callable[[TenantInfo], str | None] | None = None,
                 timeout_s: float = 20.0) -> None:
        self.runtime = runtime
        self.smoke = smoke
        self.timeout_s = timeout_s
        self.ready_at = 0.0

    def check(self, tenant: TenantInfo, image_id: str) -> str | None:
        deadline = time.monotonic() + self.timeout_s
        reason = "no answer"
        self.ready_at = 0.0
        while time.monotonic() < deadline:
            st = self.runtime.status(tenant)
            if st.state != "running":
                return f"agent is {st.state}"
            if st.image_digest != image_id:
                return f"runs {st.image_digest[:19]}, expected {image_id[:19]}"
            if st.secrets is not None:
                self.ready_at = time.monotonic()  # serving again: the downtime ends here
                return self.smoke(tenant) if self.smoke is not None else None
            reason = "agent status not answering (bootstrap exchange not completed)"
            time.sleep(0.05)
        return reason


Audit = Callable[[str | None, str, dict[str, Any]], None]  # tenant (None: platform), kind


@dataclass
class Step:
    tenant: str
    old_image: str
    old_governance: str
    was_running: bool
    suspended: bool
    wave: int
    phase: str = "pending"  # pending|stopped|snapshotted|started|upgraded|rolled_back|failed
    snapshot: str = ""
    error: str = ""
    seconds: float = 0.0  # stop -> serving on the new image (downtime)
    gate_seconds: float = 0.0  # stop -> the whole gate passed (the smoke message included)
    rollback_seconds: float = 0.0


@dataclass
class Upgrade:
    id: str
    image_id: str
    governance_version: str
    max_failures: int
    status: str = "running"  # running | halted | done | interrupted
    steps: list[Step] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(1 for s in self.steps if s.phase in ("rolled_back", "failed"))


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def lock(self, wait: bool = True) -> Iterator[bool]:
        """Held by the process running an upgrade; ``osp up`` recovers only when it is free
        (a live upgrade in another process is not "interrupted")."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def save(self, upgrade: Upgrade) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(upgrade), indent=1))
        partial.replace(self.path)  # atomic: a kill leaves the old or the new journal

    def load(self) -> Upgrade | None:
        if not self.path.is_file():
            return None
        data = json.loads(self.path.read_text())
        steps = [Step(**s) for s in data.pop("steps")]
        return Upgrade(**data, steps=steps)


class Fleet:
    def __init__(self, runtime: Runtime, snapshots: SnapshotStore, verifier: Verifier,
                 journal: Journal, health: HealthGate, audit: Audit,
                 tenants: Callable[[], list[TenantInfo]],
                 progress: Callable[[str], None] | None = None,
                 wait_rollback: bool = True) -> None:
        self.runtime = runtime
        self.wait_rollback = wait_rollback  # False on `osp up`: its internal API is not up yet
        self.snapshots = snapshots
        self.verifier = verifier
        self.journal = journal
        self.health = health
        self.audit = audit
        self.tenants = tenants
        self.progress = progress or (lambda _m: None)

    # -- planning -----------------------------------------------------------------------
    def plan(self, image: str, *, canary: int = 1, wave_size: int = 5,
             max_failures: int = 1) -> Upgrade:
        """Verify the image and the lockstep, and lay out the waves (nothing changes)."""
        if canary < 0 or wave_size < 1 or max_failures < 1:
            raise OspError("--canary >= 0, --wave-size >= 1 and --max-failures >= 1")
        current = self.journal.load()
        if current is not None and current.status in ("running", "interrupted"):
            raise Conflict(f"upgrade {current.id} is unfinished: run `osp up` (recovers it) "
                           "or `osp fleet rollback --all`")
        manifest = self.verifier.verify(image)  # unsigned/tampered: refused before anything
        if manifest.policy_schema_hash != policy_schema_hash():
            # Lockstep: the control plane's policies would not be readable by that agent.
            raise Conflict(f"image {manifest.image_id[:19]} reads policy schema "
                           f"{manifest.policy_schema_hash[:19]}, this control plane writes "
                           f"{policy_schema_hash()[:19]}: upgrade refused (lockstep)")
        upgrade = Upgrade(uuid.uuid4().hex[:12], manifest.image_id,
                          manifest.governance_version, max_failures)
        for i, info in enumerate(sorted(self.tenants(), key=lambda t: t.name)):
            st = self.runtime.status(info)
            wave = 0 if i < canary else 1 + (i - canary) // wave_size
            # The runtime record is the truth (a stopped tenant's container may be gone).
            upgrade.steps.append(Step(info.name, st.image_pinned or st.image_digest,
                                      st.governance_version,
                                      st.state == "running", st.tenant_state == "suspended",
                                      wave))
        return upgrade

    # -- running ------------------------------------------------------------------------
    def run(self, upgrade: Upgrade) -> Upgrade:
        with self.journal.lock(wait=False) as mine:
            if not mine:
                raise Conflict("another fleet upgrade is running")
            return self._run(upgrade)

    def _run(self, upgrade: Upgrade) -> Upgrade:
        self.journal.save(upgrade)
        self.audit(None, "release.upgrade_started",
                   {"upgrade": upgrade.id, "image_digest": upgrade.image_id,
                    "tenants": len(upgrade.steps)})
        for wave in sorted({s.wave for s in upgrade.steps}):
            for step in (s for s in upgrade.steps if s.wave == wave and s.phase == "pending"):
                if step.old_image == upgrade.image_id:
                    step.phase = "upgraded"  # already there
                    continue
                self._upgrade_one(upgrade, step)
                if upgrade.failures >= upgrade.max_failures:
                    upgrade.status = "halted"
                    self.journal.save(upgrade)
                    self.audit(None, "release.upgrade_halted",
                               {"upgrade": upgrade.id, "failures": upgrade.failures})
                    self.progress(f"halted after {upgrade.failures} failure(s)")
                    return upgrade
        upgrade.status = "done"
        self.journal.save(upgrade)
        self.audit(None, "release.upgrade_done", {"upgrade": upgrade.id})
        return upgrade

    def _phase(self, upgrade: Upgrade, step: Step, phase: str, **details: Any) -> None:
        step.phase = phase
        self.journal.save(upgrade)  # before the next action: recovery knows where we were
        self.audit(step.tenant, f"release.upgrade_{phase}",
                   {"upgrade": upgrade.id, "image_digest": upgrade.image_id, **details})

    def _tenant(self, name: str) -> TenantInfo:
        """A journal step's tenant, as the registry has it now (the journal keeps names)."""
        for info in self.tenants():
            if info.name == name:
                return info
        raise OspError(f"tenant {name!r} no longer exists")

    def _upgrade_one(self, upgrade: Upgrade, step: Step) -> None:
        name = step.tenant
        self.progress(f"wave {step.wave}: {name}: stop + snapshot")
        began = time.monotonic()
        try:
            info = self._tenant(name)
            if step.was_running:
                self.runtime.stop(info, ACTOR)
            self._phase(upgrade, step, "stopped")
            # Inside the downtime the snapshot is a plain tar (a disk-speed copy of the
            # stopped volume); it is gzipped once the tenant is back up.
            snap = self.snapshots.create(name, runtime={
                "image_digest": step.old_image, "governance_version": step.old_governance},
                reason=f"fleet upgrade {upgrade.id}", compress=not step.was_running)
            step.snapshot = snap.id
            self._phase(upgrade, step, "snapshotted", snapshot=snap.id, sha256=snap.sha256)
            if step.suspended or not step.was_running:
                # Upgraded without being started: its data is snapshotted, its record names
                # the new image, which its next start (resume) runs.
                self.runtime.pin(info, ACTOR, upgrade.image_id, kind="release.upgrade_pinned")
                self._phase(upgrade, step, "upgraded", started=False)
                return
            self.progress(f"wave {step.wave}: {name}: start on {upgrade.image_id[7:19]}")
            self._phase(upgrade, step, "started")
            self.runtime.start_image(info, ACTOR, upgrade.image_id, upgrade.governance_version,
                                     kind="release.upgrade_start", wait=True)
            reason = self.health.check(info, upgrade.image_id)
            if reason is not None:
                raise OspError(reason)
            step.gate_seconds = round(time.monotonic() - began, 3)
            step.seconds = round((self.health.ready_at or time.monotonic()) - began, 3)
            self._phase(upgrade, step, "upgraded", seconds=step.seconds,
                        gate_seconds=step.gate_seconds)
            self.progress(f"wave {step.wave}: {name}: serving after {step.seconds:.1f}s, "
                          f"gate passed after {step.gate_seconds:.1f}s")
            self._compress(snap)
        except OspError as exc:
            step.error = exc.message[:300]
            self.progress(f"wave {step.wave}: {name}: FAILED ({step.error}); rolling back")
            self.rollback_step(upgrade, step)

    def _compress(self, snap: Snapshot) -> None:
        try:
            self.snapshots.compress(snap)
        except OspError as exc:  # the plain snapshot stays, verified and restorable
            self.progress(f"{snap.tenant}: snapshot {snap.id} left uncompressed: "
                          f"{exc.message}")

    def rollback_step(self, upgrade: Upgrade, step: Step) -> None:
        """Old image, /data restored from the snapshot; ``failed`` if even that fails."""
        name = step.tenant
        began = time.monotonic()
        try:
            info = self._tenant(name)
            with contextlib.suppress(OspError):  # already stopped or never started
                self.runtime.stop(info, ACTOR)
            if step.snapshot:
                self.snapshots.restore(self.snapshots.get(name, step.snapshot))
            if step.was_running and not step.suspended and step.old_image:
                self.runtime.start_image(info, ACTOR, step.old_image, step.old_governance,
                                         kind="release.rollback_start",
                                         wait=self.wait_rollback)
            elif step.old_image:
                self.runtime.pin(info, ACTOR, step.old_image, kind="release.rollback_pinned")
            step.rollback_seconds = round(time.monotonic() - began, 3)
            self._phase(upgrade, step, "rolled_back", error=step.error,
                        seconds=step.rollback_seconds)
        except OspError as exc:
            step.error = f"{step.error}; rollback failed: {exc.message}"[:300]
            self._phase(upgrade, step, "failed", error=step.error)

    # -- after a crash, and on demand ---------------------------------------------------
    def recover(self) -> Upgrade | None:
        """On ``osp up``: finish an upgrade a killed control plane left behind. Tenants in
        flight are rolled back; finished ones stay; the rest stay on the old image."""
        with self.journal.lock(wait=False) as mine:
            if not mine:
                return None  # a live upgrade in another process owns the journal
            return self._recover()

    def _recover(self) -> Upgrade | None:
        upgrade = self.journal.load()
        if upgrade is None or upgrade.status not in ("running", "interrupted"):
            return None
        for step in upgrade.steps:
            if step.phase in ("stopped", "snapshotted", "started"):
                step.error = step.error or "interrupted: control plane stopped mid-upgrade"
                self.rollback_step(upgrade, step)
        upgrade.status = "halted"
        self.journal.save(upgrade)
        self.audit(None, "release.upgrade_recovered", {"upgrade": upgrade.id})
        return upgrade

    def rollback(self, tenant: str | None = None) -> list[str]:
        """Move upgraded tenants (one, or all of the last upgrade) back to their old image
        and snapshot."""
        with self.journal.lock(wait=False) as mine:
            if not mine:
                raise Conflict("a fleet upgrade is running: wait for it to finish or halt")
            return self._rollback(tenant)

    def _rollback(self, tenant: str | None) -> list[str]:
        upgrade = self.journal.load()
        if upgrade is None:
            raise OspError("no fleet upgrade to roll back")
        done = []
        for step in upgrade.steps:
            if tenant is not None and step.tenant != tenant:
                continue
            if step.phase in ("upgraded", "stopped", "snapshotted", "started"):
                step.error = step.error or "operator rollback"
                self.rollback_step(upgrade, step)
                done.append(step.tenant)
        if tenant is not None and not done:
            raise OspError(f"{tenant} was not upgraded by upgrade {upgrade.id}")
        if tenant is None:
            upgrade.status = "rolled_back"
        self.journal.save(upgrade)
        return done

    def rows(self) -> Iterator[dict[str, Any]]:
        """Who runs what (``osp fleet status``)."""
        upgrade = self.journal.load()
        phases = {s.tenant: s for s in upgrade.steps} if upgrade else {}
        for info in sorted(self.tenants(), key=lambda t: t.name):
            st = self.runtime.status(info)
            step = phases.get(info.name)
            yield {"tenant": info.name, "state": st.state, "tenant_state": st.tenant_state,
                   "image": st.image_digest, "pinned": st.image_pinned,
                   "governance": st.governance_version,
                   "upgrade_phase": step.phase if step else "",
                   "error": step.error if step else ""}
