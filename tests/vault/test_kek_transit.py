"""TransitKek over HTTP against a scripted transit engine, then through the vault and rotation."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from osp.errors import IntegrityFailure, OspError, Unavailable
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from osp.vault.kek import TransitKek
from osp.vault.service import Vault
from tests.vault import transit_server


@pytest.fixture
def transit() -> Iterator[TransitKek]:
    server, url = transit_server.start()
    yield TransitKek(url, transit_server.TOKEN)
    server.shutdown()


def test_wrap_unwrap_binds_associated_data(transit: TransitKek) -> None:
    version, wrapped = transit.wrap(b"k" * 32, b"aad-1")
    assert version == "1" and wrapped.startswith(b"vault:v1:")
    assert transit.unwrap(version, wrapped, b"aad-1") == b"k" * 32
    with pytest.raises(IntegrityFailure):
        transit.unwrap(version, wrapped, b"aad-2")


def test_bad_token_is_refused() -> None:
    server, url = transit_server.start()
    try:
        with pytest.raises(OspError, match="refused"):
            TransitKek(url, "wrong-token")
    finally:
        server.shutdown()


def test_vault_on_transit_survives_rotation(transit: TransitKek, platform: Platform,
                                            make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    vault = Vault(transit, platform.audit)
    with platform.db.tenant(t.id) as s:
        vault.put(s, t.id, "K", b"on-transit", "test")
    new = transit.rotate()
    with platform.db.tenant(t.id) as s:
        assert vault.rewrap_tenant(s, t.id) == 1
    transit.retire(new)
    with platform.db.tenant(t.id) as s:
        assert vault.get(s, t.id, "K") == b"on-transit"


def test_an_outage_of_transit_is_unavailable_not_tampering() -> None:
    server, url = transit_server.start()
    kek = TransitKek(url, transit_server.TOKEN)
    version, wrapped = kek.wrap(b"k" * 32, b"aad")
    altered = wrapped[:-4] + (b"AAAA" if not wrapped.endswith(b"AAAA") else b"BBBB")
    with pytest.raises(IntegrityFailure):
        kek.unwrap(version, altered, b"aad")  # transit saw the ciphertext and refused it
    server.shutdown()
    server.server_close()
    with pytest.raises(Unavailable) as outage:
        kek.unwrap(version, wrapped, b"aad")  # nobody looked at the ciphertext
    assert not isinstance(outage.value, IntegrityFailure)
    with pytest.raises(Unavailable):
        kek.wrap(b"k" * 32, b"aad")
