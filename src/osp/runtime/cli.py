"""Runtime commands, attached to the top-level CLI's groups by :func:`register`.

``osp tenant start|stop|restart|suspend|resume|status|limits``, ``osp image prune`` and
``osp billing set-key`` (``osp image build|list`` live in osp.release.cli).
Commands are thin: parse, call the service, print. Errors are
:class:`OspError` (one line, exit 1).
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from osp.errors import OspError
from osp.terminal import console, tenant_arg

if TYPE_CHECKING:  # the composition root hands itself in; no run-time import of it
    from rich.progress import Progress

    from osp.app import App
    from osp.runtime.service import TenantStatus

OpenApp = Callable[..., AbstractContextManager["App"]]
ACTOR = "cli:operator"
out = console()


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """A progress display that only appears if something reports (e.g. an image build). On
    a terminal a spinner; piped, one plain line per step on stderr (no spinner residue)."""
    bar: Progress | None = None
    task = None
    last = ""

    def report(message: str) -> None:
        nonlocal bar, task, last
        if not sys.stderr.isatty():
            if message != last:
                print(f"agent image: {message}", file=sys.stderr, flush=True)
                last = message
            return
        if bar is None:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            bar = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                           TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            bar.start()
            task = bar.add_task("agent image", total=None)
        if task is not None:
            bar.update(task, description=f"agent image: {message}")

    try:
        yield report
    finally:
        if bar is not None:
            bar.stop()


def _warn(problems: list[str]) -> None:
    """What would make the agent's first message fail, said before it is sent."""
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr, flush=True)


def _print_status(status: TenantStatus | dict[str, Any], as_json: bool) -> None:
    fields = status if isinstance(status, dict) else status.as_dict()
    if as_json:
        print(json.dumps(fields, sort_keys=True))
        return
    table = Table(show_header=False, box=None)
    for key, value in fields.items():
        if key == "secrets":
            value = ", ".join(value) if value is not None else "(agent not reachable)"
        elif key == "uptime_s" and value is not None:
            value = f"{value:.1f}s"
        table.add_row(key.replace("_", " "), "" if value is None else str(value))
    out.print(table)


def register(tenant_app: typer.Typer, image_app: typer.Typer, open_app: OpenApp,
             billing_app: typer.Typer | None = None,
             data_dir: Callable[[], Path] | None = None) -> None:
    @contextmanager
    def runtime() -> Iterator[App]:
        with _progress() as report, open_app(progress=report) as a:
            yield a

    def remote(op: str, name: str, wait: bool = True) -> dict[str, Any] | None:
        """The running `osp up` does it (see osp.runtime.operator); None: do it here."""
        if data_dir is None:
            return None
        from osp.runtime.operator import call

        reply = call(data_dir(), op, name, wait=wait)
        if reply is not None:
            _warn([str(w) for w in reply.get("warnings") or []])
        return reply

    @tenant_app.command("start")
    def start(name: str, no_wait: Annotated[bool, typer.Option(
            "--no-wait", help="Do not wait for the agent to report healthy.")] = False) -> None:
        """Start the tenant's agent (builds the agent image first when there is none)."""
        if (reply := remote("start", name, wait=not no_wait)) is not None:
            done = reply["status"]
            out.print(f"started {name} ({done['container_id']}, {done['image_digest'][:19]})")
            return
        with _progress() as report, open_app(progress=report) as a:
            a.require_control_plane()
            info = tenant_arg(a.platform, name)
            _warn(a.model_endpoint_problems(info))
            status = a.runtime.service.start(info, ACTOR, wait=not no_wait)
        out.print(f"started {name} ({status.container_id}, {status.image_digest[:19]})")

    @tenant_app.command("stop")
    def stop(name: str) -> None:
        """Stop the tenant's agent; it stays stopped until started."""
        if remote("stop", name) is not None:
            out.print(f"stopped {name}")
            return
        with runtime() as a:
            a.runtime.service.stop(tenant_arg(a.platform, name), ACTOR)
        out.print(f"stopped {name}")

    @tenant_app.command("restart")
    def restart(name: str) -> None:
        """Replace the agent with a fresh instance (re-reads rotated secrets)."""
        if (reply := remote("restart", name)) is not None:
            out.print(f"restarted {name} ({reply['status']['container_id']})")
            return
        with _progress() as report, open_app(progress=report) as a:
            a.require_control_plane()
            info = tenant_arg(a.platform, name)
            _warn(a.model_endpoint_problems(info))
            status = a.runtime.service.restart(info, ACTOR)
        out.print(f"restarted {name} ({status.container_id})")

    @tenant_app.command("suspend")
    def suspend(name: str, reason: Annotated[str, typer.Option(help="Why (audited).")]
                = "operator") -> None:
        """Stop the tenant and block its users from starting it until resumed."""
        with runtime() as a:
            a.runtime.service.suspend(tenant_arg(a.platform, name), ACTOR, reason)
        out.print(f"suspended {name}")

    @tenant_app.command("resume")
    def resume(name: str, reason: Annotated[str, typer.Option(help="Why (audited).")]
               = "operator") -> None:
        """Lift a suspension and start the tenant again (its /data is kept)."""
        with runtime() as a:
            a.require_control_plane()
            a.runtime.service.resume(tenant_arg(a.platform, name), ACTOR, reason)
        out.print(f"resumed {name}")

    @tenant_app.command("status")
    def status(name: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """State, container, image digest, governance version, uptime, loaded secret names."""
        if (reply := remote("status", name)) is not None:
            _print_status(reply["status"], as_json)
            return
        with runtime() as a:
            result = a.runtime.service.status(tenant_arg(a.platform, name))
        _print_status(result, as_json)

    @tenant_app.command("limits")
    def limits(name: str,
               memory_mb: Annotated[int | None, typer.Option(min=32)] = None,
               cpus: Annotated[float | None, typer.Option(min=0.01)] = None,
               pids: Annotated[int | None, typer.Option(min=8)] = None,
               host_port: Annotated[list[int] | None, typer.Option(
                   help="Host-local TCP port the tenant may reach (repeat).")] = None) -> None:
        """Set the tenant's plan limits; applied at the next start."""
        ports = tuple(host_port) if host_port is not None else None
        with runtime() as a:
            try:
                a.runtime.service.set_limits(tenant_arg(a.platform, name), ACTOR,
                                             memory_mb=memory_mb, cpus=cpus, pids=pids,
                                             host_ports=ports)
            except ValueError as exc:
                raise OspError(str(exc)) from None
        out.print(f"limits of {name} saved; they apply at the next start")

    @image_app.command("prune")
    def prune(keep: Annotated[int, typer.Option(min=1, help="Newest images to keep.")] = 3
              ) -> None:
        """Remove older agent images that no container uses."""
        from osp.release.build import BuildError
        from osp.release.images import prune_images

        try:
            removed = prune_images(keep)
        except BuildError as exc:
            raise OspError(str(exc)) from None
        out.print(f"removed {len(removed)} image(s)")

    if billing_app is not None:
        @billing_app.command("set-key")
        def set_key(generate: Annotated[bool, typer.Option(
                "--generate", help="Create a random key and print it once.")] = False) -> None:
            """Store the billing webhook's HMAC key (read from stdin), sealed in the vault."""
            from osp.runtime.billing import KEY_NAME

            value = (secrets.token_hex(32).encode() if generate
                     else sys.stdin.buffer.read().strip())
            if len(value) < 32:
                raise OspError("the billing key must be at least 32 bytes")
            with open_app() as a:
                a.runtime.secrets.put(KEY_NAME, value)
            if generate:
                print(value.decode())  # shown once, for the billing provider's settings
            else:
                out.print("billing key stored")
