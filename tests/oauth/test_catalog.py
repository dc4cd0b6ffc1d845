"""The shipped provider catalog: complete, https only, narrow scopes, checked at load."""

from __future__ import annotations

import json

import pytest

from osp.errors import NotFound
from osp.oauth.catalog import CatalogError, catalog_entry, load_catalog, parse_catalog

REQUIRED = ("google", "microsoft", "slack", "github", "hubspot", "salesforce", "notion",
            "atlassian", "zoom", "dropbox")


def test_catalog_has_the_required_providers() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 10
    assert set(REQUIRED) <= set(catalog)


@pytest.mark.parametrize("key", REQUIRED)
def test_every_entry_is_usable(key: str) -> None:
    e = catalog_entry(key)
    assert e.authorization_endpoint.startswith("https://")
    assert e.token_endpoint.startswith("https://")
    assert e.integrations and e.refresh_note and e.manual_revoke_url.startswith("https://")
    assert (e.revocation_endpoint is None) == (e.revocation_style == "none")


def test_integrations_ask_for_narrow_scopes() -> None:
    google = catalog_entry("google")
    # Reading a calendar asks for nothing that can write or touch mail.
    assert google.scopes_for(["calendar_read"]) == [
        "openid", "https://www.googleapis.com/auth/calendar.events.readonly"]
    assert google.scopes_for(["gmail_send"])[-1].endswith("/gmail.send")
    assert not any("mail.google.com" in s for e in load_catalog().values()
                   for i in e.integrations.values() for s in i.scopes)
    with pytest.raises(NotFound, match="calendar_everything"):
        google.scopes_for(["calendar_everything"])


def _raw(**changes: object) -> str:
    data = json.loads(json.dumps({"version": 1, "providers": {"x": {
        "title": "X", "openid": False, "issuer": None,
        "authorization_endpoint": "https://x.example/auth",
        "token_endpoint": "https://x.example/token", "jwks_uri": None, "revocation": None,
        "manual_revoke_url": "https://x.example/apps", "pkce": True,
        "token_auth_method": "client_secret_basic", "base_scopes": [], "authorize_params": {},
        "refresh": {"expires_in": 60, "rotates": True, "note": "n"},
        "integrations": {"a": {"title": "A", "scopes": ["a"]}}}}}))
    data["providers"]["x"].update(changes)
    return json.dumps(data)


def test_a_well_formed_entry_parses() -> None:
    assert parse_catalog(_raw())["x"].scopes_for(["a"]) == ["a"]


@pytest.mark.parametrize("changes", [
    {"token_endpoint": "http://x.example/token"},
    {"revocation": {"endpoint": None, "style": "rfc7009"}},
    {"revocation": {"endpoint": "https://x.example/r", "style": "carrier-pigeon"}},
    {"openid": True},
    {"integrations": {}},
    {"token_auth_method": "none"},
    {"title": None, "refresh": None},
])
def test_malformed_entries_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(CatalogError):
        parse_catalog(_raw(**changes))
