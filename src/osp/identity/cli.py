"""``osp user create|list|set-role|reset-password|reset-2fa|delete`` and
``osp token create|list|revoke``: a tenant's people and API tokens, from the operator's shell.

The CLI runs on the control-plane host with its keys, so it acts as the operator; what it
hands out is still bounded like the API's: a token never carries a scope beyond the role of
the person it belongs to, and a token that belongs to no person is bounded by the admin role
(what :meth:`IdentityService.authenticate_token` grants such a token). Secrets are read from
stdin, never argv; a new token is printed once, alone on stdout, so a script can capture it.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated

import typer

from osp.errors import Forbidden, OspError
from osp.terminal import CLI_ACTOR, console, read_secret_stdin, table, tenant_arg

if TYPE_CHECKING:  # the composition root hands itself in; no run-time import of it
    from osp.app import App
    from osp.identity.admin import UserAdmin

OpenApp = Callable[..., AbstractContextManager["App"]]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _scopes(values: list[str]) -> list[str]:
    return sorted({s.strip() for v in values for s in v.split(",") if s.strip()})


def register(app: typer.Typer, open_app: OpenApp) -> None:
    user_app = typer.Typer(help="People of a tenant.", no_args_is_help=True)
    token_app = typer.Typer(help="API tokens of a tenant (for scripts and `osp chat`).",
                            no_args_is_help=True)
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    out = console()

    def admin(a: App) -> UserAdmin:
        return a.platform.user_admin

    @user_app.command("create")
    def user_create(tenant: str, email: Annotated[str | None, typer.Argument()] = None,
                    role: Annotated[str, typer.Option(help="owner, admin or member")] = "member",
                    tenant_opt: Annotated[str | None, typer.Option(
                        "--tenant", hidden=True, help="Deprecated: TENANT is an argument.")]
                    = None) -> None:
        """Create a user of TENANT; the password is read from stdin (or prompted for)."""
        if tenant_opt is not None:  # the older form: osp user create EMAIL --tenant T
            if email is not None:
                raise OspError("name the tenant once: osp user create TENANT EMAIL")
            tenant, email = tenant_opt, tenant
        if email is None:
            raise OspError("usage: osp user create TENANT EMAIL [--role ROLE]")
        password = read_secret_stdin("Password: ").decode()
        with open_app() as a:
            from osp.identity.service import check_new_user

            check_new_user(email, password, role)  # bad input first, as it always was
            user_id = a.platform.identity.create_user(tenant_arg(a.platform, tenant), email,
                                                      password, role, CLI_ACTOR)
        out.print(f"created user {email.lower()} ({user_id}) in {tenant} as {role}")

    @user_app.command("list")
    def user_list(tenant: str, as_json: JsonOpt = False) -> None:
        """The tenant's users with their role and whether they use two-factor auth."""
        with open_app() as a:
            t = tenant_arg(a.platform, tenant)
            rows = [{"id": str(u.id), "email": u.email, "role": u.role,
                     "two_factor": u.totp_enabled, "created_at": u.created_at.isoformat()}
                    for u in a.platform.identity.list_users(t.id)]
        if as_json:
            print(json.dumps(rows))
            return
        grid = table("email", "role", "2fa", "created", "id")
        for r in rows:
            grid.add_row(str(r["email"]), str(r["role"]), "yes" if r["two_factor"] else "no",
                         str(r["created_at"])[:16].replace("T", " "), str(r["id"]))
        out.print(grid)

    @user_app.command("set-role")
    def user_set_role(tenant: str, email: str, role: str) -> None:
        """Change a user's role (owner, admin or member); the last owner stays an owner."""
        with open_app() as a:
            before = admin(a).set_role(tenant_arg(a.platform, tenant), email, role, CLI_ACTOR)
        out.print(f"{email.lower()} in {tenant}: {before} -> {role}")

    @user_app.command("reset-password")
    def user_reset_password(tenant: str, email: str) -> None:
        """Set a new password (read from stdin or prompted for); ends the user's sessions."""
        password = read_secret_stdin("New password: ").decode()
        with open_app() as a:
            admin(a).reset_password(tenant_arg(a.platform, tenant), email, password, CLI_ACTOR)
        out.print(f"password of {email.lower()} in {tenant} reset; their sessions are ended")

    @user_app.command("reset-2fa")
    def user_reset_2fa(tenant: str, email: str) -> None:
        """Remove a lost second factor and its recovery codes; ends the user's sessions."""
        with open_app() as a:
            had = admin(a).reset_2fa(tenant_arg(a.platform, tenant), email, CLI_ACTOR)
        what = "two-factor auth removed" if had else "no two-factor auth was set up"
        out.print(f"{email.lower()} in {tenant}: {what}; they enrol again at the next sign-in "
                  "if the tenant requires it")

    @user_app.command("delete")
    def user_delete(tenant: str, email: str,
                    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False
                    ) -> None:
        """Remove a user with their sessions and API tokens."""
        if not yes and not typer.confirm(f"Delete {email} from {tenant} with their tokens?"):
            raise OspError("aborted; nothing was deleted")
        with open_app() as a:
            admin(a).delete(tenant_arg(a.platform, tenant), email, CLI_ACTOR)
        out.print(f"deleted {email.lower()} from {tenant}")

    @token_app.command("create")
    def token_create(
            tenant: str,
            scopes: Annotated[list[str], typer.Option(
                "--scopes", help="Comma-separated or repeated, e.g. chat,tenant:read.")],
            name: Annotated[str, typer.Option(help="A label to recognise it by.")] = "cli",
            expires_days: Annotated[int | None, typer.Option(
                min=1, max=3650, help="Days until it expires (default: never).")] = None,
            user: Annotated[str | None, typer.Option(
                help="The person the token acts for (bounded by their role); default: no "
                     "person, bounded by the admin role.")] = None) -> None:
        """Create an API token; it is printed once, alone on stdout."""
        from osp.identity.scopes import ROLE_SCOPES
        from osp.identity.service import Principal, normalise_email

        wanted = _scopes(scopes)
        with open_app() as a:
            p = a.platform
            t = tenant_arg(p, tenant)
            if user is None:
                principal = Principal(t.id, None, "admin", "token", scopes=ROLE_SCOPES["admin"])
            else:
                key = normalise_email(user)
                person = next((u for u in p.identity.list_users(t.id) if u.email == key), None)
                if person is None:
                    raise OspError(f"no user {key} in tenant {tenant!r}")
                principal = Principal(t.id, person.id, person.role, "token",
                                      scopes=ROLE_SCOPES[person.role])
            try:
                token_id, token = p.identity.create_token(principal, name, wanted,
                                                          expires_days, actor=CLI_ACTOR)
            except Forbidden:
                extra = sorted(set(wanted) - principal.scopes)
                whose = f"{user}'s role {principal.role}" if user else (
                    "a token without a person (admin role); pass --user with an owner's email")
                raise OspError(f"scope(s) {', '.join(extra)} exceed {whose}") from None
        print(f"created token {token_id} for {tenant} ({', '.join(wanted)}); it is shown once:",
              file=sys.stderr)
        print(token)

    @token_app.command("list")
    def token_list(tenant: str, as_json: JsonOpt = False,
                   all_: Annotated[bool, typer.Option(
                       "--all", help="Include revoked and expired tokens.")] = False) -> None:
        """The tenant's API tokens (never their values)."""
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        with open_app() as a:
            p = a.platform
            t = tenant_arg(p, tenant)
            emails = {u.id: u.email for u in p.identity.list_users(t.id)}
            rows = []
            for r in p.identity.list_tokens(t.id):
                state = ("revoked" if r.revoked_at else
                         "expired" if r.expires_at and r.expires_at <= now else "active")
                if state != "active" and not all_:
                    continue
                rows.append({"id": str(r.id), "name": r.name, "state": state,
                             "user": emails.get(r.user_id) if r.user_id else None,
                             "scopes": list(r.scopes), "created_at": r.created_at.isoformat(),
                             "expires_at": r.expires_at.isoformat() if r.expires_at else None,
                             "last_used_at": (r.last_used_at.isoformat()
                                              if r.last_used_at else None)})
        if as_json:
            print(json.dumps(rows))
            return
        grid = table("id", "name", "state", "user", "scopes", "expires", "last used")
        for row in rows:
            grid.add_row(str(row["id"]), str(row["name"]), str(row["state"]),
                         str(row["user"] or "-"), " ".join(row["scopes"]),  # type: ignore[arg-type]
                         str(row["expires_at"] or "never")[:10],
                         str(row["last_used_at"] or "never")[:16].replace("T", " "))
        out.print(grid)

    @token_app.command("revoke")
    def token_revoke(tenant: str, token_id: str) -> None:
        """Revoke a token at once (its id is in `osp token list`)."""
        from osp.identity.scopes import ROLE_SCOPES
        from osp.identity.service import Principal

        try:
            tid = uuid.UUID(token_id)
        except ValueError:
            raise OspError(f"{token_id!r} is not a token id (see `osp token list {tenant}`)"
                           ) from None
        with open_app() as a:
            p = a.platform
            t = tenant_arg(p, tenant)
            operator = Principal(t.id, None, "owner", "token", scopes=ROLE_SCOPES["owner"])
            p.identity.revoke_token(operator, tid, actor=CLI_ACTOR)
        out.print(f"revoked token {tid} of {tenant}")
