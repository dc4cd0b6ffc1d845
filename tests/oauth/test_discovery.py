"""Discovery (OpenID / RFC 8414) against the real provider: the issuer must be the URL fetched."""

from __future__ import annotations

import httpx
import pytest

from osp.errors import InvalidInput
from osp.oauth.client import ProviderError, check_endpoint, discover, discovery_urls
from tests.oauth.conftest import OidcServer


def test_discovery_reads_endpoints_and_capabilities(oidc: OidcServer) -> None:
    with httpx.Client() as http:
        meta = discover(http, oidc.issuer)
    assert meta.issuer == oidc.issuer
    assert meta.token_endpoint == f"{oidc.issuer}/token"
    assert meta.revocation_endpoint == f"{oidc.issuer}/token/revocation"
    assert meta.openid and meta.iss_parameter_supported
    assert meta.token_auth_method == "client_secret_basic"


def test_metadata_for_another_issuer_is_refused(oidc: OidcServer) -> None:
    # Fetched as ".../" the real server still names itself without the slash: not the same
    # issuer, so it is refused rather than "close enough".
    with httpx.Client() as http, pytest.raises(ProviderError, match="issuer"):
        discover(http, oidc.issuer + "/")


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
        discover(http, oidc.issuer)


def test_server_without_metadata_is_refused(oidc: OidcServer) -> None:
    with httpx.Client() as http, pytest.raises(ProviderError, match="no metadata"):
        discover(http, oidc.issuer + "/nothing-here")


def test_discovery_urls_follow_both_specs() -> None:
    assert discovery_urls("https://as.example/tenant1") == [
        "https://as.example/tenant1/.well-known/openid-configuration",
        "https://as.example/.well-known/oauth-authorization-server/tenant1"]


@pytest.mark.parametrize("url", ["http://as.example", "ftp://as.example", "https://",
                                 "https://as.example/#frag", "javascript:alert(1)"])
def test_endpoints_must_be_https_except_loopback(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_endpoint(url, "issuer")


@pytest.mark.parametrize("url", ["https://as.example/x", "http://127.0.0.1:8080/cb",
                                 "http://localhost/cb", "http://[::1]:9/cb"])
def test_accepted_endpoints(url: str) -> None:
    assert check_endpoint(url, "issuer") == url
