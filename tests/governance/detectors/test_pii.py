from __future__ import annotations

import pytest

from osp.governance.detectors.pii import find_pii, iban_ok, luhn_ok, mask
from tests import fakes

FULLWIDTH = {ord(str(d)): 0xFF10 + d for d in range(10)}


def entities(text: str) -> list[str]:
    return [f.entity for f in find_pii(text)]


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("my ssn is 427-73-4135.", "US_SSN"),
        ("SSN: 427734135", "US_SSN"),
        ("card 4111 1111 1111 1111 exp 12/29", "CREDIT_CARD"),
        ("amex 378282246310005", "CREDIT_CARD"),
        ("write to jane.doe+tag@mail.example.co.uk today", "EMAIL_ADDRESS"),
        ("call (591)341-7776 now", "PHONE_NUMBER"),
        ("call +44 20 7946 0958", "PHONE_NUMBER"),
        ("phone: 5272868387", "PHONE_NUMBER"),
        ("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN_CODE"),
        ("GB82WEST12345698765432", "IBAN_CODE"),
        ("server at 192.168.10.24", "IP_ADDRESS"),
        ("key " + fakes.aws_access_key(), "SECRET"),
        ("token " + fakes.github_token(), "SECRET"),
        ("use " + fakes.openai_key(), "SECRET"),
        ("jwt " + fakes.jwt(), "SECRET"),
        (f"postgres://admin:{fakes.db_password()}@db.internal:5432/app", "SECRET"),
        ("password = " + fakes.db_password(), "SECRET"),
        (fakes.private_key_block(), "SECRET"),
    ],
)
def test_detects(text: str, entity: str) -> None:
    assert entity in entities(text)


@pytest.mark.parametrize(
    "text",
    [
        "order 12345678 shipped on 2024-01-02",
        "card 4111 1111 1111 1112",  # fails Luhn
        "SSN 666-12-3456 is invalid by rule",
        "the number 427734135 alone",  # nine bare digits, no SSN context
        "version 1.2.3.4 of the library",
        "I paid 1,250.00 EUR in 2023",
        "see https://example.com/docs",
        "password: <your password here>",
    ],
)
def test_does_not_flag(text: str) -> None:
    assert entities(text) == []


def test_bad_iban_checksum_is_not_an_iban() -> None:
    assert "IBAN_CODE" not in entities("IBAN DE89 3704 0044 0532 0130 01")


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB82WEST12345698765433")


def test_mask_keeps_surrounding_text_and_offsets() -> None:
    text = "mail a@b.io or call (591)341-7776."
    found = find_pii(text)
    assert mask(text, found) == "mail <EMAIL_ADDRESS> or call <PHONE_NUMBER>."
    assert [text[f.start : f.end] for f in found] == ["a@b.io", "(591)341-7776"]


def test_url_credentials_mask_only_the_userinfo() -> None:
    text = "https://bob:pa55word@host.example/x"
    assert mask(text, find_pii(text)) == "https://<SECRET>@host.example/x"


def test_fullwidth_digits_are_still_found() -> None:
    assert "US_SSN" in entities("ssn " + "427-73-4135".translate(FULLWIDTH))


@pytest.mark.parametrize(
    "text,number",
    [
        ("Mi número es 612 34 56 78, llámame.", "612 34 56 78"),
        ("call 98765 43210 tomorrow", "98765 43210"),
        ("(11) 91234-5678 é meu celular", "(11) 91234-5678"),
        ("my mobile 0412 345 678", "0412 345 678"),
    ],
)
def test_national_phone_formats_of_other_regions(text: str, number: str) -> None:
    found = [text[f.start : f.end] for f in find_pii(text) if f.entity == "PHONE_NUMBER"]
    assert found == [number]


@pytest.mark.parametrize(
    "text", ["Order 2024 1234 shipped", "invoice 12 345 678 total", "total 1 234 567 EUR"]
)
def test_grouped_amounts_and_order_numbers_are_not_phones(text: str) -> None:
    assert [f for f in find_pii(text) if f.entity == "PHONE_NUMBER"] == []
