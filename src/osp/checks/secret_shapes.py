"""The credential shapes OSP recognises, in one catalogue for every place that masks them.

Used by the governance secret detector (messages to and from the model), by the log
processor and by the audit trail (``osp.logs``). One list, so a vendor format added for the
detector is masked in logs and audit details from then on: the two used to be separate
lists and had drifted (AWS, GitLab, Hugging Face, Google and SendGrid keys reached the logs).

Why our own patterns rather than detect-secrets at run time: detect-secrets scans files line
by line with per-plugin filtering and entropy passes, which costs milliseconds on every
message; these anchored patterns cover the same token formats (vendor prefixes are public and
stable) in one pass. Values only: for ``password = hunter2`` the span is ``hunter2``, not the
key name. Where the detector and the log scrubber had different lower bounds, the catalogue
keeps the wider net (a false mask costs a readable word, a missed one leaks a credential).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# (kind, pattern): vendor token formats, matched anywhere in a text. Order matters where
# formats nest: "sk-ant-" must be tried before the generic "sk-".
TOKEN_SHAPES: tuple[tuple[str, str], ...] = (
    (
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    ),
    ("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    ("slack_token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}\b"),
    ("slack_webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}"),
    ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}"),
    ("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b"),
    ("twilio_key", r"\bSK[0-9a-fA-F]{32}\b"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    # OSP's own bearer credentials ("osps_<tenant>_<secret>", "ospt_...", OAuth state): a
    # truncated one still carries part of the secret, hence the loose tail.
    ("osp_token", r"\bosp[a-z]?_[A-Za-z0-9_-]{16,}"),
    # What follows "Bearer " in an Authorization header, whatever issued it; 16 characters
    # or more, so the English word "bearer" before an ordinary word is left alone.
    ("bearer_token", r"(?<=\b[Bb][Ee][Aa][Rr][Ee][Rr]\s)[A-Za-z0-9._~+/-]{16,}=*"),
)
# scheme://user:password@host -> the "user:password" part.
URL_CREDENTIALS = r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://([^\s:/@]{1,128}:[^\s/@]{1,256})@"
# password = hunter2, "api_key": "...", secret is xyz -> the value.
ASSIGNMENT = (
    r"(?i)\b(?:password|passwd|pwd|passphrase|secret|api[_-]?key|apikey|access[_-]?token|"
    r"auth[_-]?token|client[_-]?secret|secret[_-]?key|private[_-]?key|aws_secret_access_key)"
    r"\b[\"']?\s*(?:[:=]|=>|\bis\b)\s*[\"']?([^\s\"',;]{6,})"
)
# Every kind find_secrets reports: the detector's findings and the tests iterate over this.
SHAPE_KINDS: tuple[str, ...] = (*(k for k, _ in TOKEN_SHAPES), "url_credentials", "assignment")

_TOKENS = re.compile("|".join(f"(?P<{name}>{pat})" for name, pat in TOKEN_SHAPES))
_URL_CREDS = re.compile(URL_CREDENTIALS)
_ASSIGNMENT = re.compile(ASSIGNMENT)
_PLACEHOLDERS = {"none", "null", "password", "secret"}
# A cheap pre-check: most texts contain none of these and skip the full scan.
_QUICK = re.compile(
    r"PRIVATE KEY|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA|A3T|gh[pousr]_|github_pat_|glpat-|"
    r"xox|hooks\.slack|_live_|_test_|AIza|sk-|hf_|npm_|SG\.|SK[0-9a-fA-F]|eyJ|osp|"
    r"(?i:bearer)|://|(?i:pass|secret|key|token|pwd)"
)


def find_secrets(text: str) -> Iterator[tuple[int, int, str]]:
    """Yields ``(start, end, kind)`` for every credential-shaped span (spans may overlap)."""
    if not _QUICK.search(text):
        return
    for m in _TOKENS.finditer(text):
        yield m.start(), m.end(), m.lastgroup or "token"
    for m in _URL_CREDS.finditer(text):
        yield m.start(1), m.end(1), "url_credentials"
    for m in _ASSIGNMENT.finditer(text):
        value = m.group(1)
        if value.startswith("<") or value.lower() in _PLACEHOLDERS:
            continue
        yield m.start(1), m.end(1), "assignment"


def mask_secrets(text: str, replacement: str) -> str:
    """``text`` with every credential-shaped span (overlaps merged) replaced."""
    merged: list[list[int]] = []
    for start, end, _kind in sorted(find_secrets(text)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    if not merged:
        return text
    out, pos = [], 0
    for start, end in merged:
        out += [text[pos:start], replacement]
        pos = end
    out.append(text[pos:])
    return "".join(out)
