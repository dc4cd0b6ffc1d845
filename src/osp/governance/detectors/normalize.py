"""Canonical form of text for detectors: invisible and bidi controls removed, NFKC, homoglyphs
folded to Latin, case folded, whitespace collapsed.

Attackers hide instructions with zero-width joiners, right-to-left overrides and look-alike
letters from other scripts; a classifier that only sees raw text is trivially evaded by them.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass

# Zero-width, joiners, BOM, soft hyphen, word joiner, invisible operators, variation selectors.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2060-\u2064"
    "\u206a-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
)
# Bidi embeddings/overrides/isolates: they reorder what a human sees versus what a model reads.
_BIDI = "\u202a-\u202e\u2066-\u2069"
# Unicode "tag" characters (U+E0000 block) can smuggle an invisible ASCII copy of a prompt.
_TAGS = "\U000e0000-\U000e007f"
INVISIBLE_RE = re.compile(f"[{_INVISIBLE}{_BIDI}{_TAGS}]")
BIDI_RE = re.compile(f"[{_BIDI}]")
TAG_RE = re.compile(f"[{_TAGS}]")
_WS_RE = re.compile(r"\s+")

# Cyrillic/Greek letters that render like Latin ones (the confusables most used in attacks),
# as (look-alike, Latin letter) pairs written as escapes so the source stays readable.
_HOMOGLYPH_PAIRS = (
    "\u0430a\u0432b\u0435e\u0451e\u043ak\u043cm\u043dh\u043eo\u0440p\u0441c\u0442t\u0443y"
    "\u0445x\u0455s\u0456i\u0457i\u0458j\u0501d\u0261g\u04bbh\u04cfl\u0578n\u057du\u051bq"
    "\u051dw\u0251a\u0131i\u03b1a\u03b2b\u03b5e\u03b7n\u03b9i\u03bak\u03bdv\u03bfo\u03c1p"
    "\u03c4t\u03c5u\u03c7x\u03b3y\u03c9w\u03f2c\u03f3j\u2113l"
)
_HOMOGLYPH_RE = re.compile(f"[{re.escape(_HOMOGLYPH_PAIRS[::2])}]")
_FOLD = str.maketrans(dict(zip(_HOMOGLYPH_PAIRS[::2], _HOMOGLYPH_PAIRS[1::2], strict=True)))


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    invisible: int
    bidi: int
    tags: int
    homoglyphs: int


def strip_invisible(text: str) -> str:
    return INVISIBLE_RE.sub("", text)


def tag_payload(text: str) -> str:
    """The ASCII text hidden in Unicode tag characters, if any."""
    codes = (ord(c) - 0xE0000 for c in TAG_RE.findall(text))
    return "".join(chr(c) for c in codes if 0x20 <= c < 0x7F)


def normalize(text: str) -> Normalized:
    if text.isascii():
        folded = _WS_RE.sub(" ", text).strip().lower()
        return Normalized(folded, 0, 0, 0, 0)
    invisible = len(INVISIBLE_RE.findall(text))
    bidi = len(BIDI_RE.findall(text)) if invisible else 0
    hidden = tag_payload(text) if invisible else ""
    cleaned = INVISIBLE_RE.sub("", text)
    if hidden:
        cleaned = f"{cleaned} {hidden}"
    cleaned = unicodedata.normalize("NFKC", cleaned).casefold()
    folded = cleaned.translate(_FOLD)
    homoglyphs = len(_HOMOGLYPH_RE.findall(cleaned))
    folded = _WS_RE.sub(" ", folded).strip()
    return Normalized(folded, invisible, bidi, len(hidden), homoglyphs)


_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_TEXTY = re.compile(r"^[\x20-\x7e\t\r\n]+$")


def base64_payloads(text: str, limit: int = 3, max_chars: int = 4096) -> list[str]:
    """Readable text hidden in base64 runs ("decode this and do what it says"). Binary blobs,
    keys and tokens decode to non-text and are ignored."""
    found: list[str] = []
    for m in _BASE64_RUN.finditer(text):
        blob = m.group()[: max_chars * 4 // 3 + 4]
        blob = blob[: len(blob) - len(blob) % 4]
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("ascii")
        except UnicodeDecodeError:
            continue
        if _TEXTY.match(decoded) and " " in decoded:
            found.append(decoded)
            if len(found) >= limit:
                break
    return found
