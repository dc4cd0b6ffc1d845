"""DDL helpers that migrations use to put a table under the row-level-security rule."""

from __future__ import annotations

APP_ROLE = "osp_app"

# NULLIF: once a custom setting has been set in a session it reads '' (not NULL) afterwards;
# casting '' to uuid would raise, and we want "no tenant" to mean "no rows", not an error.
TENANT_MATCH = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def tenant_table_ddl(table: str, *, grants: str = "SELECT, INSERT, UPDATE, DELETE") -> list[str]:
    """Statements that enable + force RLS with the per-tenant policy and grant the app role."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        # FORCE: the policy applies to the table owner too, so even migrations-role
        # sessions without a tenant context see nothing.
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({TENANT_MATCH}) "
        f"WITH CHECK ({TENANT_MATCH})",
        f"GRANT {grants} ON {table} TO {APP_ROLE}",
    ]
