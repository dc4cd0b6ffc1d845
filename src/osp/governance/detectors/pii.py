"""Structured PII and secrets: regular expressions plus checksums (Luhn, IBAN mod-97) and
shape rules. Pure functions, compiled once, linear in the input.

Why not presidio at run time: its pattern recognisers are what we want, but its analyzer costs
milliseconds per message and its e-mail recogniser pulls tldextract, which reaches for the
network. The bench compares both on the same data (bench/governance/bench_pii.py).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

import phonenumbers

from osp.governance.detectors.secrets import find_secrets


@dataclass(frozen=True, slots=True)
class Finding:
    entity: str
    start: int
    end: int
    kind: str


# Lower number wins when two findings overlap.
_PRIORITY = {
    "SECRET": 0,
    "IBAN_CODE": 1,  # mod-97 over 15-34 characters is stronger evidence than a Luhn digit
    "CREDIT_CARD": 2,
    "US_SSN": 3,
    "EMAIL_ADDRESS": 4,
    "PHONE_NUMBER": 5,
    "IP_ADDRESS": 6,
}

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![\w-])"
)
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|social security|ss#|tax id|itin)\b")
_CARD = re.compile(r"(?<![\w+-])\d(?:[ -]?\d){11,18}(?![\w-])")
# Issuer prefixes outside 2-6: JCB's 15-digit 1800/2131 and the 0604 range Faker uses for Maestro.
_CARD_OTHER_PREFIXES = ("1800", "2131", "0604")
_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![\w])")
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![\w.]|\.\d)"
)
_IPV6 = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?:::?[0-9A-Fa-f]{1,4})*(?![\w:])"
)
_ANY_DIGIT = re.compile(r"\d")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|version\s*)$")
_PHONE = re.compile(
    r"(?<![\w@/.+-])(?:(?:\+|00)\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?"
    r"\d{1,15}(?:[\s.-]\d{1,15}){0,5}"
    r"(?:\s?(?:x|ext\.?|#)\s?\d{1,6})?(?![\w@/-]|\.\d)"
)
_PHONE_EXT = re.compile(r"\s?(?:x|ext\.?|#)\s?\d{1,6}$")
_PHONE_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|call|calling|mobile|cell|fax|contact|reach|text|sms|"
    r"whatsapp|number|dial|ring)\b[^.\n]{0,30}$"
)
_DATE_LIKE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")
_NANP = re.compile(r"^(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]\d{4}$")

# ISO 13616 lengths for the countries most seen; unknown countries must still pass mod-97.
_IBAN_LEN = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VG": 24,
    "XK": 20,
}


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    if not (15 <= len(compact) <= 34) or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    want = _IBAN_LEN.get(compact[:2])
    if want is not None and len(compact) != want:
        return False
    rearranged = compact[4:] + compact[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _cards(text: str) -> Iterator[Finding]:
    for m in _CARD.finditer(text):
        raw = m.group()
        digits = re.sub(r"\D", "", raw)
        seps = set(re.findall(r"[ -]", raw))
        if len(seps) > 1 or not 12 <= len(digits) <= 19:
            continue
        if digits[0] not in "23456" and not digits.startswith(_CARD_OTHER_PREFIXES):
            continue
        if luhn_ok(digits):
            yield Finding("CREDIT_CARD", m.start(), m.end(), "card")


def _ibans(text: str) -> Iterator[Finding]:
    for m in _IBAN.finditer(text):
        raw = m.group()
        compact = raw.replace(" ", "")
        want = _IBAN_LEN.get(compact[:2])
        if want is not None and len(compact) > want:
            # The greedy match ran into following capitals; cut back to the country length.
            compact = compact[:want]
            seen = 0
            end = m.start()
            for i, ch in enumerate(raw):
                if ch != " ":
                    seen += 1
                if seen == want:
                    end = m.start() + i + 1
                    break
        else:
            end = m.end()
        if iban_ok(compact):
            yield Finding("IBAN_CODE", m.start(), end, "iban")


def _ssns(text: str) -> Iterator[Finding]:
    for m in _SSN.finditer(text):
        area, sep, group, serial = m.group(1), m.group(2), m.group(3), m.group(4)
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
            continue
        # Nine bare digits are as likely an order number as an SSN: require context for them.
        if not sep and not _SSN_CONTEXT.search(text, max(0, m.start() - 40), m.start()):
            continue
        yield Finding("US_SSN", m.start(), m.end(), "ssn")


_REGIONS = ("US", "GB", "DE", "FR", "NL", "ES", "IT", "IN", "BR", "AU", "CA", "MX", "JP", "CH",
            "AT", "BE", "SE", "PL", "IE", "PT", "ZA", "SG", "NZ")


_SSN_SHAPE = re.compile(r"^\d{3}[- ]\d{2}[- ]\d{4}$")


def _valid_national(body: str) -> bool:
    for region in _REGIONS:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(body, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _phones(text: str) -> Iterator[Finding]:
    for m in _PHONE.finditer(text):
        raw = m.group()
        body = _PHONE_EXT.sub("", raw)
        digits = re.sub(r"\D", "", body)
        if not 7 <= len(digits) <= 15 or _DATE_LIKE.match(body):
            continue
        groups = len(re.findall(r"\d+", body))
        context = _PHONE_CONTEXT.search(text[max(0, m.start() - 40) : m.start()]) is not None
        if body.startswith(("+", "00")):
            try:
                num = phonenumbers.parse(
                    "+" + digits.removeprefix("00") if body[0] == "0" else body
                )
                ok = phonenumbers.is_possible_number(num)
            except phonenumbers.NumberParseException:
                ok = False
        elif _NANP.match(body):
            ok = True
        elif groups >= 2 and (body[0] in "0(") and 9 <= len(digits) <= 12:
            ok = True  # national formats such as "01 40 28 58 73" or "(06900) 59292"
        elif groups >= 2 or body[0] in "0(":
            # Grouped or trunk-prefixed digits: a phone when valid in one of the regions whose
            # national formats are most used (phonenumbers' metadata, not a guess on length).
            # Without a trunk prefix or a phone word, short grouped numbers are more often
            # amounts, dates or order numbers: ask for nine digits or more.
            plain = not context and body[0] not in "0("
            # Dotted groups are IP addresses and versions; 3-2-4 is the SSN shape.
            shaped = "." in body or _SSN_SHAPE.match(body) is not None
            ok = not shaped and not (plain and len(digits) < 9) and _valid_national(body)
            if not ok and not context:
                continue
            ok = ok or (context and 10 <= len(digits) <= 13)
        else:
            # A bare run of digits is a phone only when the sentence says so.
            ok = context and 10 <= len(digits) <= 13
        if ok:
            yield Finding("PHONE_NUMBER", m.start(), m.end(), "phone")


def _ips(text: str) -> Iterator[Finding]:
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text, max(0, m.start() - 9), m.start()):
            continue
        yield Finding("IP_ADDRESS", m.start(), m.end(), "ipv4")
    if "::" in text or text.count(":") >= 5:
        for m in _IPV6.finditer(text):
            try:
                ipaddress.IPv6Address(m.group())
            except ValueError:
                continue
            yield Finding("IP_ADDRESS", m.start(), m.end(), "ipv6")


def find_pii(text: str, entities: Collection[str] = tuple(_PRIORITY)) -> list[Finding]:
    """Non-overlapping findings in text order; overlaps go to the higher-priority entity."""
    found: list[Finding] = []
    has_digit = _ANY_DIGIT.search(text) is not None
    if "SECRET" in entities:
        found.extend(Finding("SECRET", s, e, k) for s, e, k in find_secrets(text))
    if has_digit:
        if "CREDIT_CARD" in entities:
            found.extend(_cards(text))
        if "US_SSN" in entities:
            found.extend(_ssns(text))
        if "PHONE_NUMBER" in entities:
            found.extend(_phones(text))
        if "IBAN_CODE" in entities:
            found.extend(_ibans(text))
        if "IP_ADDRESS" in entities:
            found.extend(_ips(text))
    if "EMAIL_ADDRESS" in entities and "@" in text:
        found.extend(
            Finding("EMAIL_ADDRESS", m.start(), m.end(), "email") for m in _EMAIL.finditer(text)
        )
    return _resolve(found)


def _resolve(found: list[Finding]) -> list[Finding]:
    ranked = sorted(found, key=lambda f: (_PRIORITY.get(f.entity, 9), f.start, f.start - f.end))
    chosen: list[Finding] = []
    for f in ranked:
        if all(f.end <= c.start or f.start >= c.end for c in chosen):
            chosen.append(f)
    return sorted(chosen, key=lambda f: f.start)


def mask(text: str, findings: list[Finding]) -> str:
    parts: list[str] = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(f"<{f.entity}>")
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)
