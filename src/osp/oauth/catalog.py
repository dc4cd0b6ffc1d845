"""The provider catalog shipped as data (catalog.json), checked when it is loaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from osp.errors import Misconfigured, NotFound

REVOCATION_STYLES = ("rfc7009", "bearer", "github", "none")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class Integration:
    key: str
    title: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class CatalogEntry:
    key: str
    title: str
    openid: bool
    issuer: str | None
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None
    revocation_endpoint: str | None
    revocation_style: str
    manual_revoke_url: str
    pkce: bool
    token_auth_method: str
    scope_separator: str
    base_scopes: tuple[str, ...]
    authorize_params: dict[str, str]
    refresh_expires_in: int | None
    refresh_rotates: bool
    refresh_note: str
    integrations: dict[str, Integration]

    def scopes_for(self, integrations: list[str]) -> list[str]:
        """Base scopes plus those of the named integrations, in a stable order."""
        scopes = list(self.base_scopes)
        for name in integrations:
            if name not in self.integrations:
                known = ", ".join(sorted(self.integrations))
                raise NotFound(f"{self.key} has no integration {name!r} (known: {known})")
            scopes += [s for s in self.integrations[name].scopes if s not in scopes]
        return scopes


class CatalogError(Misconfigured):
    """catalog.json or tools.json is invalid (checked at load)."""


def _entry(key: str, raw: dict[str, Any]) -> CatalogEntry:
    try:
        revocation = raw["revocation"] or {"endpoint": None, "style": "none"}
        entry = CatalogEntry(
            key=key, title=str(raw["title"]), openid=bool(raw["openid"]), issuer=raw["issuer"],
            authorization_endpoint=str(raw["authorization_endpoint"]),
            token_endpoint=str(raw["token_endpoint"]), jwks_uri=raw["jwks_uri"],
            revocation_endpoint=revocation["endpoint"], revocation_style=revocation["style"],
            manual_revoke_url=str(raw["manual_revoke_url"]), pkce=bool(raw["pkce"]),
            token_auth_method=str(raw["token_auth_method"]),
            scope_separator=str(raw.get("scope_separator", " ")),
            base_scopes=tuple(raw["base_scopes"]),
            authorize_params={str(k): str(v) for k, v in raw["authorize_params"].items()},
            refresh_expires_in=raw["refresh"]["expires_in"],
            refresh_rotates=bool(raw["refresh"]["rotates"]), refresh_note=raw["refresh"]["note"],
            integrations={k: Integration(k, str(v["title"]), tuple(v["scopes"]))
                          for k, v in raw["integrations"].items()},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise CatalogError(f"catalog entry {key!r} is malformed ({exc})") from None
    for url in (entry.authorization_endpoint, entry.token_endpoint, entry.revocation_endpoint,
                entry.issuer, entry.jwks_uri):
        # Catalog entries are the real providers: nothing but https is acceptable there.
        if url is not None and not url.startswith("https://"):
            raise CatalogError(f"catalog entry {key!r}: {url!r} is not https")
    if entry.revocation_style not in REVOCATION_STYLES:
        raise CatalogError(f"catalog entry {key!r}: unknown revocation style")
    if (entry.revocation_style == "none") != (entry.revocation_endpoint is None):
        raise CatalogError(f"catalog entry {key!r}: revocation style and endpoint disagree")
    if entry.token_auth_method not in TOKEN_AUTH_METHODS:
        raise CatalogError(f"catalog entry {key!r}: unknown token_auth_method")
    if entry.openid and entry.jwks_uri is None:
        raise CatalogError(f"catalog entry {key!r}: OpenID needs a jwks_uri to check ID tokens")
    if not entry.integrations:
        raise CatalogError(f"catalog entry {key!r} names no integration")
    return entry


def parse_catalog(text: str) -> dict[str, CatalogEntry]:
    data = json.loads(text)
    if data.get("version") != 1:
        raise CatalogError("unsupported catalog version")
    return {key: _entry(key, raw) for key, raw in sorted(data["providers"].items())}


@cache
def load_catalog() -> dict[str, CatalogEntry]:
    text = resources.files("osp.oauth").joinpath("catalog.json").read_text(encoding="utf-8")
    return parse_catalog(text)


def catalog_entry(key: str) -> CatalogEntry:
    entries = load_catalog()
    if key not in entries:
        raise NotFound(f"no catalog provider {key!r} (known: {', '.join(entries)})")
    return entries[key]
