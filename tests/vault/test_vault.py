"""Envelope encryption: tampering, moving and wrong keys fail loudly, rotation loses nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from osp.app import App
from osp.errors import IntegrityFailure, InvalidInput, NotFound
from osp.platform import Platform
from osp.runtime.store import PlatformSecrets
from osp.tenancy.service import TenantInfo
from osp.vault.kek import LocalFileKek
from osp.vault.service import MAX_VALUE_BYTES, Vault


def _put(platform: Platform, t: TenantInfo, name: str, value: bytes) -> int:
    with platform.db.tenant(t.id) as s:
        return platform.vault.put(s, t.id, name, value, "test")


def _get(platform: Platform, t: TenantInfo, name: str) -> bytes:
    with platform.db.tenant(t.id) as s:
        return platform.vault.get(s, t.id, name)


def test_roundtrip_and_versions(platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    assert _put(platform, t, "MODEL_API_KEY", b"v1") == 1
    assert _put(platform, t, "MODEL_API_KEY", b"v2") == 2
    assert _get(platform, t, "MODEL_API_KEY") == b"v2"
    with platform.db.tenant(t.id) as s:
        [info] = platform.vault.list(s, t.id)
    assert (info.name, info.version, info.versions) == ("MODEL_API_KEY", 2, 2)


def test_ciphertext_is_not_the_plaintext(platform: Platform, superuser_sql: Callable[..., list],
                                         make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    _put(platform, t, "K", b"plain-canary-value")
    [(ct, dek)] = superuser_sql(f"SELECT ciphertext, wrapped_dek FROM secret_versions "
                                f"WHERE tenant_id = '{t.id}'")
    assert b"plain-canary-value" not in bytes(ct) and len(bytes(dek)) >= 32 + 12


def test_flipped_ciphertext_byte_fails(platform: Platform, superuser_sql: Callable[..., list],
                                       make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    _put(platform, t, "K", b"value")
    superuser_sql(f"UPDATE secret_versions SET ciphertext = set_byte(ciphertext, 0, "
                  f"get_byte(ciphertext, 0) # 1) WHERE tenant_id = '{t.id}'")
    with pytest.raises(IntegrityFailure):
        _get(platform, t, "K")


def test_flipped_wrapped_key_byte_fails(platform: Platform, superuser_sql: Callable[..., list],
                                        make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    _put(platform, t, "K", b"value")
    superuser_sql(f"UPDATE secret_versions SET wrapped_dek = set_byte(wrapped_dek, 20, "
                  f"get_byte(wrapped_dek, 20) # 1) WHERE tenant_id = '{t.id}'")
    with pytest.raises(IntegrityFailure):
        _get(platform, t, "K")


def test_ciphertext_swapped_between_tenants_fails(platform: Platform,
                                                  superuser_sql: Callable[..., list],
                                                  make_tenant: Callable[..., TenantInfo]) -> None:
    a, b = make_tenant("a"), make_tenant("b")
    _put(platform, a, "K", b"secret-of-a")
    _put(platform, b, "K", b"secret-of-b")
    # The attacker copies A's whole row (ciphertext, nonce, wrapped key) over B's.
    superuser_sql(f"UPDATE secret_versions dst SET ciphertext = src.ciphertext, "
                  f"nonce = src.nonce, wrapped_dek = src.wrapped_dek, "
                  f"kek_version = src.kek_version "
                  f"FROM secret_versions src WHERE src.tenant_id = '{a.id}' "
                  f"AND dst.tenant_id = '{b.id}'")
    with pytest.raises(IntegrityFailure):
        _get(platform, b, "K")
    # Moving the row itself to the other tenant fails the same way.
    superuser_sql(f"DELETE FROM secret_versions WHERE tenant_id = '{b.id}'")
    superuser_sql(f"UPDATE secret_versions SET tenant_id = '{b.id}' WHERE tenant_id = '{a.id}'")
    with pytest.raises(IntegrityFailure):
        _get(platform, b, "K")


def test_renamed_secret_fails(platform: Platform, superuser_sql: Callable[..., list],
                              make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    _put(platform, t, "OLD", b"value")
    superuser_sql(f"UPDATE secret_versions SET name = 'NEW' WHERE tenant_id = '{t.id}'")
    with pytest.raises(IntegrityFailure):
        _get(platform, t, "NEW")


def test_wrong_kek_fails(platform: Platform, tmp_path: Path,
                         make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    _put(platform, t, "K", b"value")
    other = Vault(LocalFileKek(tmp_path / "other-kek.json"), platform.audit)
    with pytest.raises(IntegrityFailure), platform.db.tenant(t.id) as s:
        other.get(s, t.id, "K")


def test_rotate_kek_keeps_every_secret_readable(platform: Platform,
                                                make_tenant: Callable[..., TenantInfo]) -> None:
    tenants = [make_tenant() for _ in range(3)]
    for i, t in enumerate(tenants):
        _put(platform, t, "A", f"a{i}".encode())
        _put(platform, t, "A", f"a{i}-v2".encode())
        _put(platform, t, "B", f"b{i}".encode())
    before = platform.vault.kek.current_version()
    keys = PlatformSecrets(platform.db, platform.vault)
    runtime_key = keys.get_or_create("runtime_key")
    report = App(platform).rotate_kek("test")
    # Platform-wide keys are re-wrapped too: the runtime key must survive the old KEK.
    assert keys.get("runtime_key") == runtime_key
    assert report.new_version != before and report.rewrapped >= 9
    kek_file = json.loads(platform.settings.kek_file.read_text())
    assert list(kek_file["keys"]) == [report.new_version]  # old KEK retired
    for i, t in enumerate(tenants):
        assert _get(platform, t, "A") == f"a{i}-v2".encode()
        assert _get(platform, t, "B") == f"b{i}".encode()
        with platform.db.tenant(t.id) as s:
            assert platform.audit.list(s, t.id, 1)[0].kind == "kek.rotated"


def test_kek_file_is_private(platform: Platform) -> None:
    assert platform.settings.kek_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("name", "value", "message"), [
    ("", b"x", "secret name"),
    ("has space", b"x", "secret name"),
    ("x" * 129, b"x", "secret name"),
    ("OK", b"", "empty"),
    ("OK", b"x" * (MAX_VALUE_BYTES + 1), "larger than"),
])
def test_bad_names_and_values_write_nothing(platform: Platform,
                                            make_tenant: Callable[..., TenantInfo],
                                            name: str, value: bytes, message: str) -> None:
    t = make_tenant()
    with pytest.raises(InvalidInput, match=message):
        _put(platform, t, name, value)
    with platform.db.tenant(t.id) as s:
        assert platform.vault.list(s, t.id) == []
        assert [e.kind for e in platform.audit.list(s, t.id)] == ["tenant.created"]


def test_delete_removes_all_versions(platform: Platform,
                                     make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    _put(platform, t, "K", b"1")
    _put(platform, t, "K", b"2")
    with platform.db.tenant(t.id) as s:
        assert platform.vault.delete(s, t.id, "K", "test") == 2
    with pytest.raises(NotFound):
        _get(platform, t, "K")
