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


# Leetspeak: digits and symbols standing for letters inside words that also hold letters.
_LEET_MAP = str.maketrans({"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o",
                           "5": "s", "$": "s", "7": "t", "+": "t", "8": "b", "9": "g"})
_LEET_WORD = re.compile(r"(?<!\S)(?=\S*[a-z])(?=\S*[0-9@$!+])[a-z0-9@$!+]{3,}(?!\S)")
# Letters spelt out one by one ("i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e").
_SPACED = re.compile(r"(?<![\w])(?:[a-z][ .\-_*]){3,}[a-z](?![\w])")
_SPACED_SEP = re.compile(r"[ .\-_*]")
_SPELT_WORD = re.compile(r"^(?:[a-z][ .\-_*])*[a-z][.,!?]?$")


def deleet(text: str) -> tuple[str, int]:
    """Leetspeak words rewritten with letters, and how many words changed. Numbers and plain
    words are left alone ("2024", "mp3" has one digit after letters and is rewritten, which only
    matters when the rewritten text is what a detector then flags)."""
    changed = 0

    def fix(m: re.Match[str]) -> str:
        nonlocal changed
        changed += 1
        return m.group().translate(_LEET_MAP)

    return _LEET_WORD.sub(fix, text), changed


def despace(text: str) -> tuple[str, int]:
    """Runs of single letters joined back into words; a wider gap separates words."""
    count = 0

    def join(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return _SPACED_SEP.sub("", m.group())

    # Double spaces between spelt-out words mark the word gaps; keep them as one space.
    parts = re.split(r"(\s{2,}|\s*/\s*)", text)
    if len(parts) >= 5 and all(_SPELT_WORD.match(p) for p in parts[::2]):
        return " ".join(_SPACED_SEP.sub("", p) for p in parts[::2]), len(parts) // 2 + 1
    return "".join(_SPACED.sub(join, p) for p in parts), count


def decoded_variants(normalized_text: str, raw_text: str) -> list[tuple[str, str]]:
    """Readings of an obfuscated message, to be judged as if written in the clear:
    (kind, text) for base64 payloads, leetspeak and spelt-out letters. Homoglyphs, zero-width and
    bidi characters are already undone by `normalize`. Empty for ordinary text."""
    out: list[tuple[str, str]] = [("base64", p.lower()) for p in base64_payloads(raw_text)]
    leet, n = deleet(normalized_text)
    if n >= 2:
        out.append(("leetspeak", leet))
    spaced_src = _WS_RE.sub(" ", raw_text.lower()) if "  " not in raw_text else raw_text.lower()
    joined, n = despace(spaced_src)
    if n:
        out.append(("spacing", _WS_RE.sub(" ", joined).strip()))
    return out
