"""What the agent keeps on the tenant's volume, sealed: AES-256-GCM under the tenant's key.

The key is derived on the control plane from its vault-held runtime key and the tenant
(``osp.runtime.bootstrap.memory_key``) and reaches the agent only in the boot exchange, in
memory: it is never written to the volume, the image or the container's configuration, so a
copy of the volume (a backup, a snapshot, a host with the volume mounted) reads nothing. Each
value's associated data names where it lives (its file, its owner), so a value copied to
another file, another person's folder or another tenant's volume does not open; nor does
plaintext written by earlier versions, which is never offered back.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED = "osp-sealed-1:"  # the prefix of every sealed value (a version for later keys)


class Sealer:
    """A fresh 96-bit nonce per value; ``aad`` names where the value lives."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the memory key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, text: str, aad: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, text.encode("utf-8"), aad.encode())
        return SEALED + base64.b64encode(sealed).decode("ascii")

    def open(self, value: str, aad: str) -> str | None:
        """The text, or None for anything that is not this key's value for this place."""
        if not value.startswith(SEALED):
            return None
        try:
            raw = base64.b64decode(value[len(SEALED):], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], aad.encode()).decode("utf-8")
        except (ValueError, InvalidTag):
            return None
