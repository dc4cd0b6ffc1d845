"""Token and code primitives: random generation, hashing, constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from osp.errors import Unauthorized


def random_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def make_bearer(prefix: str, tenant_id: uuid.UUID) -> tuple[str, str]:
    """Returns (plaintext, hash). The tenant id inside lets us open the right RLS scope first;
    the random part (256 bits) is what authenticates and is only ever stored hashed."""
    secret = random_secret(32)
    return f"{prefix}_{tenant_id.hex}_{secret}", sha256_hex(secret)


def parse_bearer(prefix: str, token: str) -> tuple[uuid.UUID, str]:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or len(parts[2]) < 40:
        raise Unauthorized("malformed credential")
    try:
        tenant_id = uuid.UUID(hex=parts[1])
    except ValueError:
        raise Unauthorized("malformed credential") from None
    return tenant_id, sha256_hex(parts[2])
