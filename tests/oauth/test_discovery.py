"""Discovery (OpenID / RFC 8414) against the real provider: the issuer must be the URL fetched."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from osp.errors import InvalidInput
from osp.oauth.client import ProviderError, check_endpoint, discover, discovery_urls
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.oauth.conftest import OidcServer


def test_discovery_reads_endpoints_and_capabilities(oidc: OidcServer) -> None:
    with httpx.Client() as http:
        meta = discover(http, oidc.issuer, allow_loopback=True)
    assert meta.issuer == oidc.issuer
    assert meta.token_endpoint == f"{oidc.issuer}/token"
    assert meta.revocation_endpoint == f"{oidc.issuer}/token/revocation"
    assert meta.openid and meta.iss_parameter_supported
    assert meta.token_auth_method == "client_secret_basic"


def test_metadata_for_another_issuer_is_refused(oidc: OidcServer) -> None:
    # Fetched as ".../" the real server still names itself without the slash: not the same
    # issuer, so it is refused rather than "close enough".
    with httpx.Client() as http, pytest.raises(ProviderError, match="issuer"):
        discover(http, oidc.issuer + "/", allow_loopback=True)


def test_a_server_speaking_for_another_issuer_is_refused(oidc: OidcServer) -> None:
    real = httpx.get(f"{oidc.issuer}/.well-known/openid-configuration").json()

    def impostor(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=real)  # the real document, served elsewhere

    with httpx.Client(transport=httpx.MockTransport(impostor)) as http, \
            pytest.raises(ProviderError, match="issuer"):
        discover(http, "https://impostor.example")


def test_a_server_without_s256_is_refused(oidc: OidcServer) -> None:
    real = httpx.get(f"{oidc.issuer}/.well-known/openid-configuration").json()
    plain = {**real, "code_challenge_methods_supported": ["plain"]}

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=plain)

    with httpx.Client(transport=httpx.MockTransport(serve)) as http, \
            pytest.raises(ProviderError, match="S256"):
        discover(http, oidc.issuer, allow_loopback=True)


def test_server_without_metadata_is_refused(oidc: OidcServer) -> None:
    with httpx.Client() as http, pytest.raises(ProviderError, match="no metadata"):
        discover(http, oidc.issuer + "/nothing-here", allow_loopback=True)


def test_discovery_urls_follow_both_specs() -> None:
    assert discovery_urls("https://as.example/tenant1") == [
        "https://as.example/tenant1/.well-known/openid-configuration",
        "https://as.example/.well-known/oauth-authorization-server/tenant1"]


@pytest.mark.parametrize("url", ["http://as.example", "ftp://as.example", "https://",
                                 "https://as.example/#frag", "javascript:alert(1)",
                                 "https://user:pw@as.example/", "https://10.0.0.5/token",
                                 "https://169.254.169.254/latest", "https://[fd00::1]/x"])
def test_endpoints_must_be_public_https(url: str) -> None:
    for allow_loopback in (False, True):
        with pytest.raises(InvalidInput):
            check_endpoint(url, "issuer", allow_loopback=allow_loopback)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/cb", "http://localhost/cb",
                                 "http://[::1]:9/cb", "https://127.0.0.1/x"])
def test_loopback_only_where_allowed(url: str) -> None:
    assert check_endpoint(url, "issuer", allow_loopback=True) == url
    with pytest.raises(InvalidInput):
        check_endpoint(url, "issuer", allow_loopback=False)


def test_public_https_is_accepted() -> None:
    assert check_endpoint("https://as.example/x", "issuer", allow_loopback=False)


def test_broker_refuses_loopback_servers_by_default(
        platform: Platform, make_tenant: Callable[..., TenantInfo], oidc: OidcServer) -> None:
    strict = OAuthBroker(platform.db, platform.vault, platform.audit)
    try:
        with pytest.raises(InvalidInput, match="issuer"):
            strict.add_provider(make_tenant("ssrf").id, "idp", issuer=oidc.issuer,
                                client_id="c", client_secret="s",
                                redirect_uri=oidc.redirect_uri, actor="t")
    finally:
        strict.close()


@pytest.mark.parametrize(("status", "body", "error"), [
    (400, {"error": "invalid_grant", "error_description": "code expired"}, "invalid_grant"),
    (200, {"ok": False, "error": "invalid_code"}, "invalid_code"),  # Slack style
    (200, {"token_type": "Bearer"}, "invalid_response"),
    (200, {"access_token": "a", "token_type": "DPoP"}, "invalid_response"),
    (200, {"access_token": "a", "token_type": "Bearer", "expires_in": -5}, "invalid_response"),
    (200, {"access_token": "a", "token_type": "Bearer", "expires_in": "soon"},
     "invalid_response"),
])
def test_token_endpoint_answers_are_classified(status: int, body: dict[str, object],
                                               error: str) -> None:
    from osp.oauth.client import ClientCredentials, token_request

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    with httpx.Client(transport=httpx.MockTransport(serve)) as http, \
            pytest.raises(ProviderError) as info:
        token_request(http, "https://as.example/token", ClientCredentials("c", "s"), {})
    assert info.value.error == error


def test_server_failures_are_unavailable_not_refusals() -> None:
    from osp.oauth.client import ClientCredentials, ProviderUnavailable, token_request

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="maintenance")

    with httpx.Client(transport=httpx.MockTransport(serve)) as http, \
            pytest.raises(ProviderUnavailable):
        token_request(http, "https://as.example/token", ClientCredentials("c", "s"), {})
