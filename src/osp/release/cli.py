"""Release commands, attached to the top-level CLI by :func:`register`.

``osp release scan|keygen|show-key``, ``osp image build|list`` (build = scan + sign),
``osp snapshot ...`` and ``osp fleet ...`` (registered from their own modules).
Exit codes of ``release scan``: 0 clean, 1 findings, 2 could not scan.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from osp.errors import OspError
from osp.release import fleet_cli

if TYPE_CHECKING:  # the composition root hands itself in; no run-time import of it
    from osp.app import App
    from osp.release.scan import ScanReport

OpenApp = Callable[..., AbstractContextManager["App"]]
DataDir = Callable[[], Path]
out = Console()
err = Console(stderr=True)
REPO_BASELINE = ".osp-scan-baseline.toml"
# The gate's file names, for the help texts without importing the gate (a test keeps them equal).
RELEASE_TOML = "release.toml"
BASELINE = "scan-baseline.toml"
ERROR = 2  # exit code: could not scan


@contextmanager
def _spinner(title: str) -> Iterator[Callable[[str], None]]:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                   console=err, transient=True)
    task = bar.add_task(title, total=None)
    with bar:
        yield lambda message: bar.update(task, description=f"{title}: {message}")


def print_report(report: ScanReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"root": report.root, **report.as_dict()}, sort_keys=True))
        return
    for f in report.findings:
        # Masked excerpt and fingerprint only: the value itself never reaches a log.
        print(f"{f.path}:{f.line}: {f.rule}: {f.excerpt}  [{f.fingerprint}]")
    for e in report.stale:
        print(f"stale allow-list entry: {e.path} {e.rule} {e.fingerprint} ({e.reason})")
    for problem in report.errors:
        print(f"could not scan: {problem}", file=sys.stderr)
    verdict = {0: "clean", 1: f"{len(report.findings)} finding(s)", 2: "could not scan"}
    print(f"{report.root}: {verdict[report.exit_code]} ({report.files} files, "
          f"{report.binary} binary, {report.verified} verified packaged, "
          f"{len(report.suppressed)} allowed, {len(report.stale)} stale)")


def register(app: typer.Typer, image_app: typer.Typer, open_app: OpenApp,
             data_dir: DataDir) -> None:
    """The composition root (``open_app``) provides the release key's store, the agent
    image builder with its hooks and the runtime: this package does not import the runtime
    that imports it."""
    release_app = typer.Typer(help="Release gates and signing.", no_args_is_help=True)
    app.add_typer(release_app, name="release")
    fleet_cli.register(app, open_app)

    @release_app.command("scan")
    def scan(path: Annotated[Path | None, typer.Argument(help="Tree to scan.")] = None,
             image: Annotated[str | None, typer.Option(help="Scan an image instead.")] = None,
             config: Annotated[Path | None, typer.Option(
                 help=f"Deny-list file (default: {RELEASE_TOML} in the tree, or in "
                      "<data-dir>/release for --image).")] = None,
             baseline: Annotated[Path | None, typer.Option(
                 help=f"Allow-list (default: {REPO_BASELINE} in the tree, or "
                      f"<data-dir>/release/{BASELINE} for --image).")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False,
             suggest: Annotated[bool, typer.Option(
                 "--suggest-baseline", help="Print allow-list entries for the findings.")]
             = False) -> None:
        """Leak scan: secrets and branding. Exit 0 clean, 1 findings, 2 could not scan."""
        from osp.release.gate import ReleaseFiles, scan_image
        from osp.release.scan import (
            ScanConfigError,
            baseline_entries,
            load_baseline,
            load_config,
            scan_tree,
        )

        if (path is None) == (image is None):
            print("error: name a PATH or pass --image (not both)", file=sys.stderr)
            raise typer.Exit(ERROR)
        if path is not None:
            default = ReleaseFiles(path / RELEASE_TOML, path / REPO_BASELINE)
        else:
            default = ReleaseFiles.in_dir(data_dir() / "release")
        cfg_path = config or (default.config if default.config and default.config.is_file()
                              else None)
        base_path = baseline or (default.baseline
                                 if default.baseline and default.baseline.is_file() else None)
        try:
            cfg, allow = load_config(cfg_path), load_baseline(base_path)
        except ScanConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(ERROR) from None
        with _spinner("leak scan") as report_progress:
            if path is not None:
                report = scan_tree(path, cfg, allow,
                                   progress=lambda n: report_progress(f"{n} files"))
            else:
                report = scan_image(str(image), cfg, allow)
        if suggest:
            print(baseline_entries(report.findings))
        else:
            print_report(report, as_json)
        raise typer.Exit(report.exit_code)

    @release_app.command("keygen")
    def keygen() -> None:
        """Create the Ed25519 release key, sealed in the vault; prints its public half."""
        from osp.release.manifest import ReleaseKey

        with open_app() as a:
            public = ReleaseKey(a.release_keys()).generate()
        out.print(f"release key created: {public}")

    @release_app.command("show-key")
    def show_key() -> None:
        """Print the release key's public half (to trust it on another host)."""
        from osp.release.manifest import ReleaseKey, key_id

        with open_app() as a:
            public = ReleaseKey(a.release_keys()).public()
        if public is None:
            raise OspError("no release key: run `osp release keygen`")
        print(key_id(public))

    @image_app.command("build")
    def build(wheel: Annotated[Path | None, typer.Option(
            help="Use this OSP wheel instead of building one from the source tree.")] = None,
              cache_dir: Annotated[Path | None, typer.Option(
                  help="Where the base root filesystem is cached.")] = None,
              brand: Annotated[Path | None, typer.Option(
                  help="Brand overlay directory (release.toml [brand] + assets).")] = None,
              ) -> None:
        """Build the agent image, scan it (blocking), sign its manifest; tagged by digest."""
        from osp.release.brand import BrandError, BrandOverlay
        from osp.release.build import BuildError, BuildRefused
        from osp.release.gate import ReleaseFiles, ScanGate
        from osp.release.signed import SignedBuilds, manifest_store

        if wheel is not None and not wheel.is_file():
            raise OspError(f"no such wheel: {wheel}")
        with open_app() as a:
            cache = cache_dir or a.settings.data_dir / "cache"
            home = a.settings.data_dir
            store = a.release_keys()
            try:
                overlay = BrandOverlay.load(brand) if brand is not None else None
            except BrandError as exc:
                raise OspError(str(exc)) from None
            builder = a.image_builder(cache, ReleaseFiles.in_dir(home / "release"), overlay)
            signed = SignedBuilds(builder, store, manifest_store(home))
            try:
                with _spinner("agent image") as report:
                    built, manifest = signed.build(report, wheel=wheel)
            except BuildRefused as exc:
                gate = next((h for h in builder.hooks if isinstance(h, ScanGate)), None)
                if gate is not None and gate.last is not None:
                    print_report(gate.last, as_json=False)
                raise OspError(f"build refused: {exc}") from None
            except BuildError as exc:
                raise OspError(str(exc)) from None
        out.print(f"built {built.tag} ({built.image_id}), signed by {manifest.key_id[:24]}…")

    @image_app.command("list")
    def images(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Agent images on this host, newest first, with their signature status."""
        from osp.release.build import BuildError
        from osp.release.images import list_images
        from osp.release.signed import verifier_for

        try:
            rows = list_images()
        except BuildError as exc:
            raise OspError(str(exc)) from None
        with open_app() as a:
            verifier = verifier_for(a.settings.data_dir, a.release_keys())
        signed = {i.image_id: verifier.status(i.image_id) for i in rows}
        if as_json:
            print(json.dumps([{"id": i.image_id, "tags": list(i.tags), "created": i.created,
                               "size": i.size, "osp_version": i.osp_version,
                               "governance_version": i.governance_version,
                               "signature": signed[i.image_id]} for i in rows]))
            return
        table = Table("tag", "digest", "signature", "governance", "size MB", "created")
        for i in rows:
            table.add_row(", ".join(i.tags) or "(untagged)", i.image_id[:19], signed[i.image_id],
                          i.governance_version, f"{i.size / 1e6:.0f}", i.created)
        out.print(table)
