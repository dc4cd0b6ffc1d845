"""What the leak scan looks for: secret shapes and the operator's branding deny-list.

Secrets come from three catalogues, each with a rule name that findings and the baseline use:

* ``ds:<Plugin>``: detect-secrets' regex plugins (vendor token shapes, private keys, basic
  auth, JWTs ...). We run each plugin's own patterns over the whole file and hand only the
  matching lines to the plugin, because detect-secrets' line-by-line driver costs about a
  minute per 3 MB on this hardware and an image holds tens of MB of text. The plugins'
  network *verification* is never called: a scanner must not send a suspected secret anywhere.
* ``osp:<kind>``: OSP's credential catalogue (osp.checks.secret_shapes, which the governance
  detector and the log scrubber use; model-provider keys and other
  shapes detect-secrets lacks), imported, not copied, so both grow together.
* ``osp:entropy_assignment``: ``api_key = "..."``-style assignments whose value looks random.

Plus file rules (``.env``, ``*.pem``, ``*.key``, ``id_rsa`` ...) and branding rules from
``release.toml``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import cached_property, lru_cache
from typing import Any

from osp.checks.secret_shapes import find_secrets

# The high-entropy string plugins flag every hash and test vector in a source tree; entropy is
# judged on assignments to secret-looking names instead (below). A public IP is not a secret.
_SKIPPED_PLUGINS = frozenset({"Base64HighEntropyString", "HexHighEntropyString",
                              "IPPublicDetector", "KeywordDetector"})
# The governance catalogue's bare "assignment" kind flags any `password = x`; the entropy
# rule below replaces it for files (it was made for chat messages, where that is right).
_SKIPPED_KINDS = frozenset({"assignment"})
# Shapes loose enough to match identifiers in source (``osp_http_requests_total`` is a metric
# name, ``osps_acme_Zk3...`` a token): in files they count only with a random-looking tail.
_RANDOM_TAIL = frozenset({"osp_token"})

_ASSIGNMENT = re.compile(
    r"(?i)\b[A-Za-z_][A-Za-z0-9_.-]*(?:key|token|secret|passw(?:or)?d|pwd|credential|auth)"
    r"[A-Za-z0-9_]*[\"']?\s*(?:=|:|=>)\s*[\"']([^\"'\s]{16,})[\"']"
)
MIN_ENTROPY = 3.5  # bits per character; English words and paths stay below, keys above

SECRET_FILE_GLOBS = (".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa",
                     "id_dsa", "id_ecdsa", "id_ed25519", ".netrc", ".pgpass")
SECRET_FILE_ALLOWED = (".env.example", ".env.sample", ".env.template")


@dataclass(frozen=True)
class Hit:
    rule: str
    line: int  # 1-based; 0 for a file-level finding
    value: str  # the matched text; never printed, only masked and hashed


def _looks_random(value: str) -> bool:
    """High entropy and at least two character classes: ``API_TOKEN_NAME`` (a name, not a
    value) and ``correcthorsebattery`` stay out, ``9f8a...`` and ``xK3v...`` are in."""
    classes = sum(any(test(c) for c in value) for test in (str.islower, str.isupper,
                                                              str.isdigit))
    return classes >= 2 and entropy(value) >= MIN_ENTROPY


def entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


@lru_cache(maxsize=1)
def _plugins() -> tuple[Any, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    found: list[Any] = []
    cls: Any
    for cls in get_mapping_from_secret_type_to_class().values():
        if cls.__name__ in _SKIPPED_PLUGINS or not issubclass(cls, RegexBasedDetector):
            continue
        found.append(cls())
    if not found:  # a broken install must not pass as "no secrets"
        raise RuntimeError("detect-secrets has no plugins")
    return tuple(found)


def plugin_names() -> list[str]:
    return sorted(type(p).__name__ for p in _plugins())


class _Lines:
    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def number(self, offset: int) -> int:
        lo, hi = 0, len(self.starts)
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid
        return lo + 1

    def line(self, number: int) -> str:
        start = self.starts[number - 1]
        end = self.starts[number] - 1 if number < len(self.starts) else len(self.text)
        return self.text[start:end]


_BREAK_AT = 2048
_DELIMS = re.compile(r"[,; \t]")


def _break_long_lines(text: str) -> str:
    """Break lines longer than ``_BREAK_AT`` at a delimiter, keeping every offset.

    Several plugin patterns (``//.+/:_authToken=`` ...) go quadratic on a megabyte-long
    line (minified JSON, model weights). A delimiter is replaced by a newline of the same
    length, so offsets, hence line numbers computed on the original text, stay exact; a
    token shape never contains these delimiters, so no match is split.
    """
    if len(text) <= _BREAK_AT or all(len(ln) <= _BREAK_AT for ln in text.split("\n")):
        return text
    chars = list(text)
    since = 0
    for i, ch in enumerate(text):
        if ch == "\n":
            since = 0
        elif since >= _BREAK_AT and _DELIMS.match(ch):
            chars[i] = "\n"
            since = 0
        else:
            since += 1
    return "".join(chars)


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                         "_-+/=.~")


def _widen(line: str, value: str) -> tuple[int, int]:
    start = max(line.find(value), 0)
    end = start + len(value)
    while start > 0 and line[start - 1] in _TOKEN_CHARS:
        start -= 1
    while end < len(line) and line[end] in _TOKEN_CHARS:
        end += 1
    return start, end


def secret_hits(original: str) -> Iterator[Hit]:
    lines = _Lines(original)
    text = _break_long_lines(original)
    scan_lines = _Lines(text) if text is not original else lines
    seen: set[tuple[int, str]] = set()
    for plugin in _plugins():
        candidates: set[int] = set()
        for pattern in plugin.denylist:
            for m in pattern.finditer(text):
                candidates.add(scan_lines.number(m.start()))
        for number in sorted(candidates):
            segment = scan_lines.line(number)
            offset = scan_lines.starts[number - 1]
            for found in plugin.analyze_string(segment):
                # Some plugins return only a capture group (e.g. "ghp"): widen to the whole
                # token, so the mask hides all of it and the fingerprint is the token's.
                start, end = _widen(segment, str(found))
                value = segment[start:end]
                at = offset + start
                line_no = lines.number(at)
                rule = f"ds:{type(plugin).__name__}"
                if (line_no, value) not in seen and not is_placeholder(rule, str(found)):
                    seen.add((line_no, value))
                    yield Hit(rule, line_no, value)
    for start, end, kind in find_secrets(text):
        if kind in _SKIPPED_KINDS:
            continue
        number = lines.number(start)
        value = original[start:end]
        if (number, value) in seen or is_placeholder(f"osp:{kind}", value):
            continue
        if kind in _RANDOM_TAIL and not _looks_random(value.split("_", 1)[-1]):
            continue
        seen.add((number, value))
        yield Hit(f"osp:{kind}", number, value)
    for m in _ASSIGNMENT.finditer(text):
        value = m.group(1)
        number = lines.number(m.start(1))
        if (number, value) in seen or not _looks_random(value):
            continue
        seen.add((number, value))
        yield Hit("osp:entropy_assignment", number, value)


# Documentation placeholders, not credentials: `https://user:password@host` in a docstring.
_PLACEHOLDERS = frozenset({"password", "passwd", "pass", "pwd", "secret", "changeme",
                           "example", "placeholder", "redacted", "token", "xxx", "xxxx",
                           "xxxxxx", "***", "****", "******"})


_INTERPOLATION = re.compile(r"\$?\{[^{}]*\}|\{\{[^{}]*\}\}|%\([a-z_]+\)s|%s|<[^<>]*>")


def is_placeholder(rule: str, value: str) -> bool:
    """A code interpolation (``{pw}``, ``${TOKEN}``, ``%(pw)s``) is where a value goes at run
    time, not a value; URL passwords that are documentation words are placeholders too."""
    part = value.rsplit(":", 1)[-1] if rule == "osp:url_credentials" else value
    part = part.strip("\"'`")
    if _INTERPOLATION.fullmatch(part):
        return True
    if rule not in ("ds:BasicAuthDetector", "osp:url_credentials"):
        return False
    return part.lower() in _PLACEHOLDERS or set(part) <= {"*", "x", "X", "."}


def secret_file_hit(name: str) -> Hit | None:
    if name in SECRET_FILE_ALLOWED:
        return None
    for pattern in SECRET_FILE_GLOBS:
        if fnmatch(name, pattern):
            return Hit(f"file:{pattern}", 0, name)
    return None


@dataclass(frozen=True)
class Branding:
    """The operator's deny-list: names that must never ship."""

    words: tuple[str, ...] = ()
    regexes: tuple[str, ...] = ()
    globs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for rx in self.regexes:
            re.compile(rx)  # re.error -> the config is refused when loaded

    @property
    def empty(self) -> bool:
        return not (self.words or self.regexes or self.globs)

    @cached_property
    def _content(self) -> re.Pattern[str] | None:
        parts = [rf"(?<![A-Za-z0-9]){re.escape(w)}(?![A-Za-z0-9])" for w in self.words]
        parts += [f"(?:{rx})" for rx in self.regexes]
        return re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def path_hits(self, relpath: str) -> Iterator[Hit]:
        for pattern in self.globs:
            if fnmatch(relpath, pattern) or fnmatch(relpath.rsplit("/", 1)[-1], pattern):
                yield Hit(f"brand:glob:{pattern}", 0, relpath)
        rx = self._content
        if rx is not None and (m := rx.search(relpath)):
            yield Hit("brand:path", 0, m.group(0))

    def content_hits(self, text: str) -> Iterator[Hit]:
        rx = self._content
        if rx is None:
            return
        lines = _Lines(text)
        for m in rx.finditer(text):
            number = lines.number(m.start())
            yield Hit("brand:word", number, m.group(0))
