from __future__ import annotations

from typing import Protocol


class KekProvider(Protocol):
    """Wraps and unwraps data keys under a versioned key-encryption key."""

    name: str

    def current_version(self) -> str: ...

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        """Returns (kek_version, wrapped_dek) under the current KEK version."""
        ...

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes: ...

    def rotate(self) -> str:
        """Creates a new KEK version, makes it current and returns it; old versions stay usable."""
        ...

    def retire(self, keep: str) -> None:
        """Forgets every version but ``keep`` once nothing is wrapped under them any more."""
        ...
