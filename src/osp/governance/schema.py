"""The policy schema's identity: the hash both sides of the governance lockstep compare.

Stdlib only and cheap: the control plane stamps it on every policy it sends, the agent
compares it with its own before it serves, and the image build writes it as a label and a
signed manifest field (``osp.policy.schema``).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

SCHEMA_FILE = Path(__file__).with_name("policy.schema.json")


@functools.cache
def schema_hash() -> str:
    """``sha256:<hex>`` of the policy schema this installation's governance reads."""
    return "sha256:" + hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
