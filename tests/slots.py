"""Per-session test slots: a resource-name prefix and an address pool no other live session holds.

Each installation's nft table drops everything else from its own pool, so two concurrent
sessions must never share a prefix or a pool; an flock on /run/lock keeps the slot for the
whole session (and a crashed session's slot is free again).
"""

from __future__ import annotations

import fcntl
import socket
from typing import Any

SLOTS = 16  # concurrent test sessions on one host


def claim_slot(stem: str, second_octet: int) -> tuple[str, str, Any]:
    """(prefix, /20 of 10.<second_octet>.0.0/16, lock handle to keep open)."""
    for k in range(SLOTS):
        handle = open(f"/run/lock/{stem}{k}.lock", "w")  # noqa: SIM115 - held for the session
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return f"{stem}{k}", f"10.{second_octet}.{16 * k}.0/20", handle
    raise RuntimeError("no free test slot")


def free_port() -> int:
    """A TCP port free on every address right now (for servers a test starts)."""
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])
