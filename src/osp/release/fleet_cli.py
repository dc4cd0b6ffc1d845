"""``osp snapshot create|list|restore|delete`` and ``osp fleet upgrade|status|rollback``.

Registered by :func:`osp.release.cli.register`; the runtime comes in through
:class:`ReleaseRuntime` (built by the composition root), so this package does not import
the runtime package that imports it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from osp.errors import OspError
from osp.terminal import tenant_arg

out = Console()
ACTOR = "cli:operator"


class SmokeModel(StrEnum):
    scripted = "scripted"
    tenant = "tenant"


@dataclass
class ReleaseRuntime:
    runtime: Runtime
    volumes: Volumes
    verifier: Verifier
    audit: Audit
    tenants: Callable[[], list[TenantInfo]]
    data_dir: Path
    require_control_plane: Callable[[], None] = lambda: None
    # --smoke-model MODE -> the health gate's governed smoke message (osp.release.smoke);
    # None where no gateway is wired (``osp up``'s recovery only rolls back).
    smoke: Callable[[str], Callable[[TenantInfo], str | None]] | None = None


if TYPE_CHECKING:  # the composition root hands itself in; no run-time import of it
    from osp.app import App

    # The fleet pulls in the tenancy service and SQLAlchemy (0.7 s): imported by the
    # commands that use it, so `osp --help` stays light.
    from osp.release.fleet import Audit, Fleet, Runtime, Verifier
    from osp.release.snapshot import SnapshotStore, Volumes
    from osp.tenancy.service import TenantInfo

OpenApp = Callable[..., AbstractContextManager["App"]]


def snapshots_of(rt: ReleaseRuntime, keep: int = 5) -> SnapshotStore:
    from osp.release.snapshot import SnapshotStore

    return SnapshotStore(rt.data_dir / "snapshots", rt.volumes, keep=keep)


def fleet_of(rt: ReleaseRuntime, progress: Callable[[str], None] | None = None,
             wait_rollback: bool = True, smoke_model: str | None = None) -> Fleet:
    from osp.release.fleet import AgentHealthGate, Fleet, Journal

    smoke = None
    if smoke_model is not None:
        if rt.smoke is None:
            raise OspError("the smoke message needs the gateway (open the installation)")
        smoke = rt.smoke(smoke_model)
    return Fleet(rt.runtime, snapshots_of(rt), rt.verifier,
                 Journal(rt.data_dir / "release" / "fleet.json"),
                 AgentHealthGate(rt.runtime, smoke), rt.audit, rt.tenants, progress,
                 wait_rollback=wait_rollback)


@contextmanager
def _progress(title: str) -> Iterator[Callable[[str], None]]:
    # Transient: the bar is gone when the command ends, so an error is the only line left
    # (the log lines above it are the progress record).
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task(title, total=None)
    with bar:
        def report(message: str) -> None:
            bar.update(task, description=f"{title}: {message}")
            bar.console.log(message)

        yield report


def register(app: typer.Typer, open_app: OpenApp) -> None:
    @contextmanager
    def open_release() -> Iterator[ReleaseRuntime]:
        with open_app() as a:
            yield a.release()

    snapshot_app = typer.Typer(help="Per-tenant snapshots of /data.", no_args_is_help=True)
    fleet_app = typer.Typer(help="Fleet upgrades and rollbacks.", no_args_is_help=True)
    app.add_typer(snapshot_app, name="snapshot")
    app.add_typer(fleet_app, name="fleet")

    @snapshot_app.command("create")
    def create(tenant: str, keep: Annotated[int, typer.Option(
            min=1, help="Snapshots to keep per tenant (older ones are deleted).")] = 5) -> None:
        """Snapshot the tenant's /data volume (gzip + sha256) and its runtime record."""
        with open_app() as a, _progress(f"snapshot {tenant}"):
            rt = a.release()
            st = rt.runtime.status(tenant_arg(a.platform, tenant))
            snap = snapshots_of(rt, keep).create(tenant, runtime={
                "image_digest": st.image_digest, "governance_version": st.governance_version,
                "state": st.state})
            rt.audit(tenant, "release.snapshot_created", {"snapshot": snap.id,
                                                          "sha256": snap.sha256})
        out.print(f"snapshot {snap.id} of {tenant}: {snap.size / 1e6:.1f} MB, "
                  f"sha256 {snap.sha256[:16]}…")

    @snapshot_app.command("list")
    def list_(tenant: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        with open_app() as a:
            info = tenant_arg(a.platform, tenant)
            rows = snapshots_of(a.release()).snapshots(info.name)
        if as_json:
            print(json.dumps([s.as_dict() for s in rows]))
            return
        table = Table("id", "created", "MB", "image", "reason")
        for s in rows:
            table.add_row(s.id, s.created, f"{s.size / 1e6:.1f}",
                          str(s.runtime.get("image_digest", ""))[:19], s.reason)
        out.print(table)

    @snapshot_app.command("restore")
    def restore(tenant: str, snapshot: Annotated[str | None, typer.Argument(
            help="Snapshot id (default: the newest).")] = None) -> None:
        """Verify the checksum, stop the tenant, restore /data; start it again if it ran."""
        with open_app() as a, _progress(f"restore {tenant}"):
            info = tenant_arg(a.platform, tenant)
            rt = a.release()
            store = snapshots_of(rt)
            snap = store.get(info.name, snapshot)
            store.verify(snap)  # a corrupt snapshot is refused before the tenant stops
            st = rt.runtime.status(info)
            was_running = st.state == "running"
            if was_running:
                rt.require_control_plane()
                rt.runtime.stop(info, ACTOR)
            store.restore(snap)
            rt.audit(tenant, "release.snapshot_restored", {"snapshot": snap.id})
            if was_running:
                rt.runtime.start_image(info, ACTOR, st.image_digest, st.governance_version,
                                       kind="runtime.started", wait=True)
        out.print(f"restored {tenant} from {snap.id}")

    @snapshot_app.command("delete")
    def delete(tenant: str, snapshot: str) -> None:
        with open_app() as a:
            info = tenant_arg(a.platform, tenant)
            rt = a.release()
            snapshots_of(rt).delete(info.name, snapshot)
            rt.audit(tenant, "release.snapshot_deleted", {"snapshot": snapshot})
        out.print(f"deleted snapshot {snapshot} of {tenant}")

    @fleet_app.command("upgrade")
    def upgrade(image: Annotated[str, typer.Option(help="Image tag or digest.")],
                canary: Annotated[int, typer.Option(min=0)] = 1,
                wave_size: Annotated[int, typer.Option(min=1)] = 5,
                max_failures: Annotated[int, typer.Option(min=1)] = 1,
                smoke_model: Annotated[SmokeModel, typer.Option(
                    help="The health gate's governed smoke message goes to a scripted model "
                         "(served by the control plane) or to the tenant's own model."
                )] = SmokeModel.scripted,
                dry_run: Annotated[bool, typer.Option("--dry-run")] = False) -> None:
        """Move every tenant to IMAGE in waves (canaries first); roll back failures."""
        with open_release() as rt:
            fleet = fleet_of(rt, smoke_model=smoke_model.value)
            plan = fleet.plan(image, canary=canary, wave_size=wave_size,
                              max_failures=max_failures)
            table = Table("wave", "tenant", "from", "running", "suspended")
            for s in plan.steps:
                table.add_row(str(s.wave), s.tenant, s.old_image[:19] or "-",
                              "yes" if s.was_running else "no", "yes" if s.suspended else "no")
            out.print(table)
            if dry_run:
                out.print(f"dry run: {len(plan.steps)} tenant(s) would move to "
                          f"{plan.image_id[:19]} (signature and lockstep verified)")
                return
            rt.require_control_plane()
            with _progress("fleet upgrade") as report:
                fleet.progress = report
                result = fleet.run(plan)
        moved = sum(1 for s in result.steps if s.phase == "upgraded")
        out.print(f"upgrade {result.id}: {result.status}; {moved} upgraded, "
                  f"{result.failures} rolled back/failed")
        if result.status != "done":
            raise typer.Exit(1)

    @fleet_app.command("status")
    def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Who runs what, and where the last upgrade left each tenant."""
        with open_release() as rt:
            rows = list(fleet_of(rt).rows())
        if as_json:
            print(json.dumps(rows))
            return
        table = Table("tenant", "state", "runs", "pinned", "governance", "last upgrade",
                      "error")
        for r in rows:
            table.add_row(r["tenant"], f"{r['state']} ({r['tenant_state']})",
                          str(r["image"])[:19] or "-", str(r["pinned"])[:19] or "-",
                          r["governance"], r["upgrade_phase"], str(r["error"])[:60])
        out.print(table)

    @fleet_app.command("rollback")
    def rollback(tenant: Annotated[str | None, typer.Argument()] = None,
                 all_: Annotated[bool, typer.Option("--all")] = False) -> None:
        """Back to the old image with /data restored from the upgrade's snapshot."""
        if (tenant is None) == (not all_):
            raise OspError("name a tenant or pass --all (not both)")
        with open_release() as rt, _progress("fleet rollback") as report:
            rt.require_control_plane()
            done = fleet_of(rt, report).rollback(tenant)
        out.print(f"rolled back {len(done)} tenant(s): {', '.join(done) or '-'}")
