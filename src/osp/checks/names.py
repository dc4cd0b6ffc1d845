"""The tenant-name rule, once: the registry, the container runtime, the API bodies and the
database constraint all take it from here.

A tenant name becomes part of container, network and volume names and of DNS labels, so it is
held to the strictest of those grammars: a lowercase RFC 1123 label of 2-40 characters,
starting with a letter, so "osp-t-<name>-data" stays under 63 characters.
"""

from __future__ import annotations

import re

TENANT_NAME_MAX = 40
# Anchored on purpose: the same text is the tenants table's CHECK constraint (POSIX ``~``).
TENANT_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
TENANT_NAME_HELP = ("use 2-40 lowercase letters, digits or '-', starting with a letter and "
                    "not ending with '-'")
_TENANT_NAME = re.compile(TENANT_NAME_PATTERN)


def is_tenant_name(name: object) -> bool:
    # fullmatch, not match: "$" alone would let a trailing newline through.
    return isinstance(name, str) and _TENANT_NAME.fullmatch(name) is not None


def tenant_name_problem(name: object) -> str | None:
    """None for a valid name, else one line saying why (the name is shown cut to 60)."""
    if is_tenant_name(name):
        return None
    return f"invalid tenant name {str(name)[:60]!r}: {TENANT_NAME_HELP}"
