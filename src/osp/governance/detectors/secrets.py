"""API keys, tokens, private keys and credentials in URLs.

Why our own patterns rather than detect-secrets at run time: detect-secrets scans files line by
line with per-plugin filtering and entropy passes, which costs milliseconds on every message;
these anchored patterns cover the same token formats (vendor prefixes are public and stable) in
one pass. Values only: for `password = hunter2` we mask `hunter2`, not the key name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_TOKEN_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    ),
    ("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    ("slack_token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}\b"),
    ("slack_webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
    ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b"),
    ("twilio_key", r"\bSK[0-9a-fA-F]{32}\b"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("bearer_token", r"(?<=\b[Bb]earer )[A-Za-z0-9._~+/-]{20,}=*"),
)
_TOKENS = re.compile("|".join(f"(?P<{name}>{pat})" for name, pat in _TOKEN_PATTERNS))
# scheme://user:password@host -> the "user:password" part.
_URL_CREDS = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://([^\s:/@]{1,128}:[^\s/@]{1,256})@")
_ASSIGNMENT = re.compile(
    r"(?i)\b(?:password|passwd|pwd|passphrase|secret|api[_-]?key|apikey|access[_-]?token|"
    r"auth[_-]?token|client[_-]?secret|secret[_-]?key|private[_-]?key|aws_secret_access_key)"
    r"\b[\"']?\s*(?:[:=]|=>|\bis\b)\s*[\"']?([^\s\"',;]{6,})"
)
_QUICK = re.compile(
    r"PRIVATE KEY|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox|hooks\.slack|_live_|_test_|AIza|sk-|"
    r"hf_|npm_|SG\.|SK[0-9a-f]|eyJ|(?i:bearer)|://|(?i:pass|secret|key|token|pwd)"
)


def find_secrets(text: str) -> Iterator[tuple[int, int, str]]:
    if not _QUICK.search(text):
        return
    for m in _TOKENS.finditer(text):
        kind = m.lastgroup or "token"
        yield m.start(), m.end(), kind
    for m in _URL_CREDS.finditer(text):
        yield m.start(1), m.end(1), "url_credentials"
    for m in _ASSIGNMENT.finditer(text):
        value = m.group(1)
        if value.startswith("<") or value.lower() in {"none", "null", "password", "secret"}:
            continue
        yield m.start(1), m.end(1), "assignment"
