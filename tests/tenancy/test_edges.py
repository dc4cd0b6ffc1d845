"""The tenant is resolved once, at an edge: services below take a TenantInfo and never look a
name up again. An AST sweep over src/osp finds every name lookup (``<...>.tenants.get(...)``)
and every use of the edge helpers (``tenant_of``, ``tenant_access``, ``tenant_arg``) and
fails on any outside the edge modules."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Edges: where a request, a command or a webhook names a tenant.
EDGE_PATTERNS = (
    "osp/cli.py", "osp/terminal.py", "osp/*/cli.py", "osp/release/fleet_cli.py",  # CLI
    "osp/web/deps.py", "osp/*/api.py", "osp/runtime/user_api.py",  # HTTP API
    "osp/console/*.py",  # console pages (one dependency per request, like the API)
    "osp/app/*.py",  # the composition root
)
# Edges that live next to a service, each for a reason.
NAMED_EDGES = {
    # Sign-in: the tenant is what the person typed; an unknown name costs throttle
    # attempts like a wrong password, so the lookup belongs to the login itself.
    "osp/identity/service.py",
    # Slack/Telegram webhooks: the URL claims the tenant; an unknown name answers the
    # same 401 as a bad signature, from one place.
    "osp/channels/service.py",
    # The billing webhook names the tenant in its signed event.
    "osp/runtime/billing.py",
    # The internal API: a booted agent claims its tenant by name (bootstrap exchange,
    # secret fetch, audit sink, request authentication).
    "osp/runtime/store.py", "osp/runtime/wiring.py",
    # `osp up --demo` creates or reuses the tenant with the fixed name "demo".
    "osp/gateway/demo.py",
}
EDGE_HELPERS = {"tenant_of", "tenant_access", "tenant_arg"}


def _is_edge(rel: str) -> bool:
    return rel in NAMED_EDGES or any(Path(rel).match(p) for p in EDGE_PATTERNS)


def lookups(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for each tenant name lookup or edge-helper call in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get":
            owner = func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else \
                owner.id if isinstance(owner, ast.Name) else None
            if name == "tenants":
                found.append((node.lineno, ast.unparse(func)))
        elif isinstance(func, ast.Name) and func.id in EDGE_HELPERS:
            found.append((node.lineno, func.id))
    return found


def _sweep() -> dict[str, list[tuple[int, str]]]:
    result = {}
    for path in sorted((SRC / "osp").rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("osp/agent/", "osp/governance/")):
            continue  # the image side has no tenant registry at all
        if rel == "osp/tenancy/service.py":
            continue  # the registry itself defines the lookup
        found = lookups(ast.parse(path.read_text(encoding="utf-8")))
        if found:
            result[rel] = found
    return result


def test_the_sweep_finds_a_lookup_below_the_edge() -> None:
    # The detector itself can fail: each spelling a service could use is caught.
    code = ("class S:\n"
            "    def start(self, name):\n"
            "        a = self.tenants.get(name)\n"
            "        b = platform.tenants.get(name)\n"
            "        c = tenants.get(name)\n"
            "        return tenant_of(p, q, name), tenant_arg(p, name)\n")
    assert [what for _line, what in lookups(ast.parse(code))] == [
        "self.tenants.get", "platform.tenants.get", "tenants.get", "tenant_of", "tenant_arg"]
    assert lookups(ast.parse("settings.get('x'); self.tenants.list()")) == []
    assert not _is_edge("osp/runtime/service.py") and _is_edge("osp/identity/cli.py")


def test_services_never_look_a_tenant_name_up() -> None:
    below = {rel: found for rel, found in _sweep().items() if not _is_edge(rel)}
    assert below == {}, (
        "a tenant name is looked up below the edge; resolve it once at the edge (API "
        "dependency osp.web.deps.tenant_access, CLI osp.terminal.tenant_arg) and pass the "
        f"TenantInfo down: {below}")


def test_every_named_edge_still_needs_its_exception() -> None:
    swept = _sweep()
    stale = sorted(rel for rel in NAMED_EDGES if rel not in swept)
    assert stale == [], f"no longer looks a tenant up: drop from NAMED_EDGES: {stale}"
