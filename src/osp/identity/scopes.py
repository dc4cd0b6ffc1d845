"""Roles and the API scopes they grant. A token never carries more than its creator's role."""

from __future__ import annotations

ALL_SCOPES = (
    "tenant:read", "tenant:write", "users:read", "users:write", "secrets:read",
    "secrets:write", "tokens:write", "audit:read", "chat", "approvals:write",
)
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": frozenset(ALL_SCOPES),
    "admin": frozenset(ALL_SCOPES) - {"tenant:write"},
    "member": frozenset({"tenant:read", "chat"}),
}
