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
from functools import lru_cache

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

# Literal needles: a shape can only match a text that contains one of its needles, so only
# the shapes whose needles occur are scanned for (plain substring tests first: running the
# whole alternation over every log string made the log processor three times slower).
# Lower-case needles are looked up in the case-folded text (casefold, not lower: the long s,
# U+017F, folds to "s", as it matches "s" in a case-insensitive pattern).
_NEEDLES: dict[str, tuple[str, ...]] = {
    "private_key": ("PRIVATE KEY",),
    "aws_access_key": ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "A3T"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab_token": ("glpat-",),
    "slack_token": ("xox",),
    "slack_webhook": ("https://hooks.slack.com/services/",),
    "stripe_key": ("_live_", "_test_"),
    "google_api_key": ("AIza",),
    "anthropic_key": ("sk-ant-",),
    "openai_key": ("sk-",),
    "huggingface_token": ("hf_",),
    "npm_token": ("npm_",),
    "sendgrid_key": ("SG.",),
    "twilio_key": ("SK",),
    "jwt": ("eyJ",),
    "osp_token": ("osp",),
}
_LOWER_NEEDLES: dict[str, tuple[str, ...]] = {
    "bearer_token": ("bearer",),
    "url_credentials": ("://",),
    "assignment": ("pass", "pwd", "secret", "key", "token"),
}
# A shape without needles would never be scanned for: refuse to load rather than miss it.
if set(_NEEDLES) | set(_LOWER_NEEDLES) != set(SHAPE_KINDS):
    raise RuntimeError("osp.checks.secret_shapes: every shape needs its needles")
_PATTERNS = dict(TOKEN_SHAPES)


def _needle_index(needles: dict[str, tuple[str, ...]]) -> tuple[tuple[str, frozenset[str]], ...]:
    """(needle, the kinds it stands for) pairs; substring tests see overlapping needles too."""
    kinds: dict[str, set[str]] = {}
    for kind, words in needles.items():
        for word in words:
            kinds.setdefault(word, set()).add(kind)
    return tuple((word, frozenset(found)) for word, found in kinds.items())


_EXACT = _needle_index(_NEEDLES)
_FOLDED = _needle_index(_LOWER_NEEDLES)
_URL_CREDS = re.compile(URL_CREDENTIALS)
_ASSIGNMENT = re.compile(ASSIGNMENT)
_PLACEHOLDERS = {"none", "null", "password", "secret"}


@lru_cache(maxsize=256)
def _alternation(kinds: tuple[str, ...]) -> re.Pattern[str]:
    # Catalogue order is kept, so overlapping formats resolve as in the full list.
    return re.compile("|".join(f"(?P<{k}>{_PATTERNS[k]})" for k in kinds))


def _present(text: str) -> set[str]:
    found: set[str] = set()
    for word, kinds in _EXACT:
        if word in text:
            found |= kinds
    folded = text.casefold()
    for word, kinds in _FOLDED:
        if word in folded:
            found |= kinds
    return found


def find_secrets(text: str) -> Iterator[tuple[int, int, str]]:
    """Yields ``(start, end, kind)`` for every credential-shaped span (spans may overlap)."""
    present = _present(text)
    if not present:
        return
    kinds = tuple(k for k, _ in TOKEN_SHAPES if k in present)
    if kinds:
        for m in _alternation(kinds).finditer(text):
            yield m.start(), m.end(), m.lastgroup or "token"
    if "url_credentials" in present:
        for m in _URL_CREDS.finditer(text):
            yield m.start(1), m.end(1), "url_credentials"
    if "assignment" in present:
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
