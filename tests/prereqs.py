"""One rule for tests with a prerequisite (container engine, browser, network namespaces):
skip on a developer machine without it, fail in CI (``CI`` set), where a silent skip would
hide a missing install step."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

CONTAINER_TOOLS = ("podman", "runc", "debootstrap", "nft")


def unavailable(why: str) -> NoReturn:
    """A prerequisite is missing: the test fails in CI and is skipped elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def require_root_and(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if os.geteuid() == 0 and not missing:
        return
    unavailable(f"needs root and {', '.join(tools)}" + (f" (missing: {', '.join(missing)})"
                                                        if missing else ""))
