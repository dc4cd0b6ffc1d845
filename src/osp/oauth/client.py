"""HTTP to authorization servers: discovery, token requests, revocation, ID token checks.

Nothing here touches the database. Token values travel only in request bodies and in
``TokenSet`` (whose repr hides them); they are never put in an exception message or a log.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from osp.errors import InvalidInput, Unavailable, UpstreamFailed
from osp.identity.secrets import same
from osp.oauth.egress import as_ip, canonical_host, refusal
from osp.oauth.pkce import digest

TIMEOUT = httpx.Timeout(10.0)
MAX_BODY = 256 * 1024
ID_TOKEN_ALGS = ("RS256", "PS256", "ES256", "EdDSA")
CLOCK_SKEW = 120


class ProviderError(UpstreamFailed):
    """The authorization server refused (an OAuth ``error`` code) or answered nonsense."""

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error[:100]
        self.description = description[:300]
        super().__init__(f"provider error {self.error}" +
                         (f": {self.description}" if self.description else ""))


class ProviderUnavailable(Unavailable):
    """Network failure or a 5xx: nothing was decided, the caller may try again later."""


@dataclass(frozen=True, repr=False)
class TokenSet:
    access_token: str
    token_type: str
    expires_in: int | None
    refresh_token: str | None
    scope: list[str] | None
    id_token: str | None

    def __repr__(self) -> str:
        return (f"TokenSet(token_type={self.token_type!r}, expires_in={self.expires_in}, "
                f"refresh={'yes' if self.refresh_token else 'no'}, scope={self.scope})")


@dataclass(frozen=True)
class ServerMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None
    jwks_uri: str | None
    openid: bool
    iss_parameter_supported: bool
    token_auth_method: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str = field(repr=False)
    auth_method: str = "client_secret_basic"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    return as_ip(host)


def is_loopback(host: str) -> bool:
    ip = _ip(host)
    return canonical_host(host) == "localhost" or (ip is not None and ip.is_loopback)


def check_endpoint(url: str, what: str, *, allow_loopback: bool) -> str:
    """https only. Plain http, and loopback hosts at all, only when ``allow_loopback``
    (local development and tests): tenant admins register servers, and the control plane
    then sends requests there, so loopback and private addresses would be an SSRF hole.

    The host is judged in its canonical form (``127.1``, ``2130706433``, ``0x7f000001`` and
    ``0177.0.0.1`` are all 127.0.0.1). Names are resolved and checked again when the
    connection is made (``osp.oauth.egress``): this text check only refuses early."""
    try:
        parts = urlsplit(url or "")
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise InvalidInput(f"{what} is not a valid URL") from None
    loopback = is_loopback(host)
    if parts.scheme == "https" and host:
        ok = allow_loopback or not loopback
    else:
        ok = parts.scheme == "http" and loopback and allow_loopback
    ip = _ip(host)
    # Literal private, link-local (cloud metadata) or reserved addresses are never servers
    # we call, whatever the switch says.
    if ip is not None and refusal(ip, allow_loopback=True) is not None:
        ok = False
    if not ok or parts.fragment or parts.username or len(url) > 2000:
        raise InvalidInput(f"{what} must be an https URL without fragment or user info "
                           "(http and loopback only where allowed)")
    return url


def _read_json(resp: httpx.Response, what: str) -> dict[str, Any]:
    if len(resp.content) > MAX_BODY:
        raise ProviderError("invalid_response", f"{what} answer is too large")
    try:
        data = json.loads(resp.content)
    except ValueError:
        raise ProviderError("invalid_response", f"{what} answer is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderError("invalid_response", f"{what} answer is not a JSON object")
    return data


def _send(http: httpx.Client, method: str, url: str, what: str, **kw: Any) -> httpx.Response:
    try:
        resp = http.request(method, url, timeout=TIMEOUT, follow_redirects=False, **kw)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{what}: {type(exc).__name__}") from None
    if resp.status_code >= 500:
        raise ProviderUnavailable(f"{what}: HTTP {resp.status_code}")
    return resp


# -- discovery (RFC 8414 / OpenID Connect Discovery 1.0) -------------------------------------
def discovery_urls(issuer: str) -> list[str]:
    parts = urlsplit(issuer)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    return [f"{origin}{path}/.well-known/openid-configuration",
            f"{origin}/.well-known/oauth-authorization-server{path}"]


def discover(http: httpx.Client, issuer: str, *, allow_loopback: bool = False
             ) -> ServerMetadata:
    def check(url: str, what: str) -> str:
        return check_endpoint(url, what, allow_loopback=allow_loopback)

    check(issuer, "issuer")
    if urlsplit(issuer).query:
        raise InvalidInput("an issuer URL has no query")
    data: dict[str, Any] | None = None
    for url in discovery_urls(issuer):
        resp = _send(http, "GET", url, "discovery")
        if resp.status_code == 200:
            data = _read_json(resp, "discovery")
            break
    if data is None:
        raise ProviderError("discovery_failed", f"no metadata under {issuer}")
    # Mix-up and impersonation defence (RFC 8414 §3.3): the document must name exactly the
    # issuer it was fetched for, or a server could speak for another one.
    if data.get("issuer") != issuer:
        raise ProviderError("issuer_mismatch", "metadata issuer differs from the URL fetched")
    for key in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(data.get(key), str):
            raise ProviderError("invalid_metadata", f"metadata lacks {key}")
    # PKCE with S256 only: a server that does not say it supports S256 is refused rather
    # than used without PKCE.
    if "S256" not in (data.get("code_challenge_methods_supported") or []):
        raise ProviderError("pkce_unsupported", "server does not advertise PKCE S256")
    if "code" not in (data.get("response_types_supported") or ["code"]):
        raise ProviderError("invalid_metadata", "server does not offer the code flow")
    methods = data.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    if auth not in methods:
        raise ProviderError("invalid_metadata", "server accepts neither basic nor post client auth")
    openid = "jwks_uri" in data and "openid" in (data.get("scopes_supported") or ["openid"])
    meta = ServerMetadata(
        issuer=issuer,
        authorization_endpoint=check(data["authorization_endpoint"], "authorization_endpoint"),
        token_endpoint=check(data["token_endpoint"], "token_endpoint"),
        revocation_endpoint=(check(data["revocation_endpoint"], "revocation_endpoint")
                             if isinstance(data.get("revocation_endpoint"), str) else None),
        jwks_uri=(check(data["jwks_uri"], "jwks_uri")
                  if isinstance(data.get("jwks_uri"), str) else None),
        openid=openid,
        iss_parameter_supported=data.get("authorization_response_iss_parameter_supported") is True,
        token_auth_method=auth, raw=data,
    )
    return meta


# -- token endpoint ---------------------------------------------------------------------------
def _auth(creds: ClientCredentials, form: dict[str, str]) -> dict[str, str]:
    if creds.auth_method == "client_secret_post":
        form.update(client_id=creds.client_id, client_secret=creds.client_secret)
        return {}
    # RFC 6749 §2.3.1: both parts are form-urlencoded before the base64 step.
    pair = f"{quote(creds.client_id, safe='')}:{quote(creds.client_secret, safe='')}"
    return {"authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def token_request(http: httpx.Client, endpoint: str, creds: ClientCredentials,
                  form: dict[str, str], separator: str = " ") -> TokenSet:
    form = dict(form)
    headers = {"accept": "application/json", **_auth(creds, form)}
    resp = _send(http, "POST", endpoint, "token endpoint", data=form, headers=headers)
    data = _read_json(resp, "token endpoint")
    # Some providers (Slack) answer errors with HTTP 200 and {"ok": false, "error": ...}.
    if resp.status_code != 200 or "error" in data or data.get("ok") is False:
        raise ProviderError(str(data.get("error") or f"http_{resp.status_code}"),
                            str(data.get("error_description") or ""))
    access = data.get("access_token")
    token_type = str(data.get("token_type") or "")
    if not isinstance(access, str) or not access:
        raise ProviderError("invalid_response", "no access_token in the token response")
    # Bearer only: a DPoP or MAC token would need proof the agent cannot give.
    if token_type.lower() not in ("bearer", "bot", "user"):
        raise ProviderError("invalid_response", "token type is not bearer")
    expires = data.get("expires_in")
    try:
        expires_in = int(expires) if expires is not None else None
    except (TypeError, ValueError):
        raise ProviderError("invalid_response", "expires_in is not a number") from None
    if expires_in is not None and not 0 <= expires_in <= 10 * 365 * 86400:
        raise ProviderError("invalid_response", "expires_in is out of range")
    scope = data.get("scope")
    refresh = data.get("refresh_token")
    return TokenSet(
        access_token=access, token_type="Bearer", expires_in=expires_in,  # noqa: S106
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scope=split_scopes(scope, separator) if isinstance(scope, str) else None,
        id_token=data["id_token"] if isinstance(data.get("id_token"), str) else None,
    )


def split_scopes(scope: str, separator: str = " ") -> list[str]:
    parts = scope.replace(",", " ").split() if separator == "," else scope.split()
    return sorted(set(parts))


# -- revocation -------------------------------------------------------------------------------
def revoke(http: httpx.Client, style: str, endpoint: str, creds: ClientCredentials,
           token: str, hint: str) -> None:
    """Revokes one token at the provider; raises ProviderError/ProviderUnavailable on failure."""
    if style == "rfc7009":
        form = {"token": token, "token_type_hint": hint}
        headers = _auth(creds, form)
        resp = _send(http, "POST", endpoint, "revocation endpoint", data=form, headers=headers)
        ok = resp.status_code == 200  # RFC 7009 §2.2: 200 also for an already invalid token
    elif style == "bearer":
        resp = _send(http, "POST", endpoint, "revocation endpoint",
                     headers={"authorization": f"Bearer {token}"})
        ok = resp.status_code == 200
    elif style == "github":
        pair = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
        resp = _send(http, "DELETE", endpoint.replace("{client_id}", quote(creds.client_id)),
                     "revocation endpoint", json={"access_token": token},
                     headers={"authorization": f"Basic {pair}",
                              "accept": "application/vnd.github+json"})
        ok = resp.status_code in (204, 404)
    else:
        raise InvalidInput(f"revocation style {style!r} cannot be called")
    if not ok:
        raise ProviderError("revocation_failed", f"HTTP {resp.status_code}")


# -- ID tokens (OpenID Connect Core §3.1.3.7) -------------------------------------------------
def verify_id_token(http: httpx.Client, id_token: str, *, jwks_uri: str, issuer: str | None,
                    client_id: str, nonce_hash: str | None) -> dict[str, Any]:
    resp = _send(http, "GET", jwks_uri, "jwks")
    if resp.status_code != 200:
        raise ProviderError("invalid_response", f"jwks answered HTTP {resp.status_code}")
    try:
        keys = KeySet.import_key_set(_read_json(resp, "jwks"))  # type: ignore[arg-type]
        claims = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGS).claims
    except (JoseError, ValueError, TypeError) as exc:
        raise ProviderError("invalid_id_token", type(exc).__name__) from None
    now = time.time()
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    problems = []
    if issuer is not None and claims.get("iss") != issuer:
        problems.append("iss")
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        problems.append("aud")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - CLOCK_SKEW:
        problems.append("exp")
    # The nonce ties this ID token to the attempt that started the flow (replay defence);
    # an attempt that sent a nonce accepts no ID token without it.
    if nonce_hash is not None and not same(digest(str(claims.get("nonce", ""))), nonce_hash):
        problems.append("nonce")
    if not isinstance(claims.get("sub"), str):
        problems.append("sub")
    if problems:
        raise ProviderError("invalid_id_token", "bad " + ", ".join(problems))
    return dict(claims)
