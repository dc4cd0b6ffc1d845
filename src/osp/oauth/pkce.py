"""PKCE (RFC 7636, S256 only), state and nonce values.

The state carries the tenant id in the clear (so the callback can open that tenant's RLS
scope) and 256 random bits that authenticate it; only the hash of the random part is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from osp.errors import InvalidInput, Unauthorized
from osp.identity.secrets import make_bearer, parse_bearer, sha256_hex

STATE_PREFIX = "ospo"
# RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
VERIFIER_BYTES = 64  # -> 86 characters, 512 bits of entropy


def validate_verifier(verifier: str) -> str:
    if not _VERIFIER.fullmatch(verifier or ""):
        raise InvalidInput("a PKCE code verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~")
    return verifier


def make_verifier() -> str:
    return validate_verifier(secrets.token_urlsafe(VERIFIER_BYTES))


def s256_challenge(verifier: str) -> str:
    # S256 only: "plain" would send the verifier itself through the browser, which is
    # exactly the channel PKCE assumes an attacker can read.
    return str(create_s256_code_challenge(validate_verifier(verifier)))


def make_state(tenant_id: uuid.UUID) -> tuple[str, str]:
    """Returns (state, hash to store)."""
    return make_bearer(STATE_PREFIX, tenant_id)


def parse_state(state: str) -> tuple[uuid.UUID, str]:
    """Returns (tenant id, hash of the random part). Malformed states are refused."""
    if not state or len(state) > 200:
        raise Unauthorized("missing or malformed state")
    try:
        return parse_bearer(STATE_PREFIX, state)
    except Unauthorized:
        raise Unauthorized("missing or malformed state") from None


def make_nonce() -> tuple[str, str]:
    nonce = secrets.token_urlsafe(32)
    return nonce, sha256_hex(nonce)


def make_binding() -> tuple[str, str]:
    """A browser binding: a random value set as a cookie on the browser that starts the flow."""
    value = secrets.token_urlsafe(32)
    return value, sha256_hex(value)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
