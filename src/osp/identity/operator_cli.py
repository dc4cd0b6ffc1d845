"""``osp operator create|list|delete``: the installation's operators (console operator
pages), from the control-plane host only. The password is read from stdin (or prompted
for); the TOTP seed is created with the account and shown once, with its QR code."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated

import typer

from osp.terminal import CLI_ACTOR, console, read_secret_stdin, table

if TYPE_CHECKING:
    from osp.app import App

OpenApp = Callable[..., AbstractContextManager["App"]]


def register(app: typer.Typer, open_app: OpenApp) -> None:
    operator_app = typer.Typer(help="Operators of this installation (console operator "
                               "pages; not tenant users).", no_args_is_help=True)
    app.add_typer(operator_app, name="operator")
    out = console()

    @operator_app.command("create")
    def create(email: str, qr: Annotated[bool, typer.Option(
            help="Also draw the TOTP QR code in the terminal.")] = True) -> None:
        """Create an operator; password from stdin. Prints the TOTP seed once: enrol it in
        an authenticator app now (sign-in needs password and code)."""
        password = read_secret_stdin("Password: ").decode()
        with open_app() as a:
            uri, seed = a.platform.operators.create(email, password, CLI_ACTOR)
        out.print(f"created operator {email.lower()}")
        out.print(f"TOTP secret (shown once): {seed}")
        out.print(f"otpauth URI: {uri}", markup=False)
        if qr:
            import segno

            segno.make(uri, error="m").terminal(compact=True)

    @operator_app.command("list")
    def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Operators and when they were created."""
        with open_app() as a:
            rows = [{"email": o.email, "created_at": o.created_at.isoformat()}
                    for o in a.platform.operators.list()]
        if as_json:
            print(json.dumps(rows))
            return
        grid = table("email", "created")
        for r in rows:
            grid.add_row(r["email"], r["created_at"][:16].replace("T", " "))
        out.print(grid)

    @operator_app.command("delete")
    def delete(email: str) -> None:
        """Remove an operator (their console sessions end with it)."""
        with open_app() as a:
            a.platform.operators.delete(email, CLI_ACTOR)
        out.print(f"deleted operator {email.lower()}")
