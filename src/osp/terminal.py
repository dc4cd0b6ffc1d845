"""Small helpers every CLI module shares (the top-level CLI and the feature groups)."""

from __future__ import annotations

import getpass
import sys

CLI_ACTOR = "cli:operator"


def read_secret_stdin(prompt: str) -> bytes:
    """A secret from the terminal (not echoed) or from piped stdin, never from argv."""
    if sys.stdin.isatty():
        value = getpass.getpass(prompt)
    else:
        value = sys.stdin.read()
        if value.endswith("\n"):
            value = value[:-1]
            if value.endswith("\r"):
                value = value[:-1]
    return value.encode()
