"""``osp approvals list|approve|deny``: the human side of approval-gated tool calls."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from osp.terminal import CLI_ACTOR as ACTOR
from osp.terminal import tenant_arg

if TYPE_CHECKING:  # the composition root hands itself in; no run-time import of it
    from osp.app import App
    from osp.approvals.service import ApprovalService
    from osp.platform import Platform

OpenApp = Callable[..., AbstractContextManager["App"]]
out = Console()


def _parse_id(value: str) -> uuid.UUID:
    from osp.approvals.service import parse_id  # the service only when a command runs

    return parse_id(value)


def register(app: typer.Typer, open_app: OpenApp) -> None:
    approvals_app = typer.Typer(help="Tool calls waiting for a person's decision.",
                                no_args_is_help=True)
    app.add_typer(approvals_app, name="approvals")

    @contextmanager
    def parts() -> Iterator[tuple[Platform, ApprovalService]]:
        with open_app() as a:
            yield a.platform, a.agent.approvals

    @approvals_app.command("list")
    def list_(tenant: str,
              status: Annotated[str, typer.Option(
                  help="pending, approved, denied, expired or all")] = "pending",
              as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        with parts() as (platform, approvals):
            rows = approvals.list(tenant_arg(platform, tenant),
                                        None if status == "all" else status)
        if as_json:
            print(json.dumps([r.as_dict() for r in rows]))
            return
        table = Table("id", "tool", "arguments", "status", "expires")
        for r in rows:
            table.add_row(str(r.id), r.tool, json.dumps(r.arguments)[:60], r.status,
                          f"{r.expires_at:%Y-%m-%d %H:%M:%S}")
        out.print(table)

    def _decide(tenant: str, approval_id: str, approve: bool) -> None:
        with parts() as (platform, approvals):
            result = approvals.decide(tenant_arg(platform, tenant),
                                            _parse_id(approval_id), approve, ACTOR)
        out.print(f"{'approved' if approve else 'denied'} {approval_id}")
        if result.reply:
            print(result.reply)

    @approvals_app.command("approve")
    def approve(tenant: str, approval_id: str) -> None:
        """Let the paused call run; the agent continues and its reply is printed."""
        _decide(tenant, approval_id, True)

    @approvals_app.command("deny")
    def deny(tenant: str, approval_id: str) -> None:
        """Refuse the paused call; the agent tells the person it was not done."""
        _decide(tenant, approval_id, False)
