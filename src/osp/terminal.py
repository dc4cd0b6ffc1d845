"""Small helpers every CLI module shares (the top-level CLI and the feature groups)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # names only: the CLI must start fast
    from osp.platform import Platform
    from osp.tenancy.service import TenantInfo

CLI_ACTOR = "cli:operator"


def read_secret_stdin(prompt: str) -> bytes:
    """A secret from the terminal (not echoed) or from piped stdin, never from argv."""
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(prompt)
    else:
        value = sys.stdin.read()
        if value.endswith("\n"):
            value = value[:-1]
            if value.endswith("\r"):
                value = value[:-1]
    return value.encode()


def console(*, stderr: bool = False) -> Console:
    """A console for command output. Piped, it neither wraps nor cuts at 80 columns (a
    script reads whole lines) and never animates."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=10_000, soft_wrap=True)


def table(*columns: str) -> Table:
    """A table that takes its columns' natural width (no padding to the console's width)."""
    return Table(*columns, expand=False)


def tenant_arg(platform: Platform, name: str) -> TenantInfo:
    """A command's TENANT argument, resolved once at the edge: everything below takes the
    TenantInfo. An unknown or invalid name is one line (``unknown tenant 'x'``), exit 1."""
    return platform.tenants.get(name)
