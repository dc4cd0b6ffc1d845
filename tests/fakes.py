"""Credential-shaped test values, generated at run time and marked FAKE where the format allows.

Nothing here is a real credential; each call returns a fresh value with the right shape for
the detectors and redactors under test.
"""

from __future__ import annotations

import base64
import json
import secrets
import string


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def aws_access_key() -> str:
    return "AKIAFAKE" + _rand(string.ascii_uppercase + string.digits, 12)


def github_token() -> str:
    return "ghp_FAKE" + _rand(string.ascii_letters + string.digits, 32)


def openai_key() -> str:
    return "sk-proj-FAKE" + _rand(string.ascii_letters + string.digits, 26)


def slack_bot_token() -> str:
    return "xoxb-fake-" + secrets.token_hex(10)


def jwt() -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'sub': 'fake-' + secrets.token_hex(4)})}." \
           f"{base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b'=').decode()}"


def private_key_block() -> str:
    body = base64.b64encode(b"FAKE KEY " + secrets.token_bytes(24)).decode()
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def db_password() -> str:
    return "fake-" + secrets.token_hex(6)


def model_key() -> str:
    """A model API key's shape (what a tenant stores as MODEL_API_KEY)."""
    return "sk-FAKE-" + secrets.token_hex(16)
