"""KEK providers: a local key file (default) and a HashiCorp Vault / OpenBao transit engine."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from osp.errors import IntegrityFailure, OspError, Unavailable


class LocalFileKek:
    """256-bit KEKs kept in a 0600 JSON file in the data dir, one entry per version."""

    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._state: dict[str, Any] = self._load_or_create()
        self._mtime = self.path.stat().st_mtime_ns

    def _refresh(self) -> None:
        # Another process (`osp vault rotate-kek` beside a running `osp up`) may have rotated.
        mtime = self.path.stat().st_mtime_ns
        if mtime != self._mtime:
            self._state, self._mtime = self._load_or_create(), mtime

    def _load_or_create(self) -> dict[str, Any]:
        if self.path.exists():
            mode = self.path.stat().st_mode & 0o777
            if mode & 0o077:
                raise OspError(f"{self.path} is readable by others (mode {mode:o}); chmod 600 it")
            try:
                state: dict[str, Any] = json.loads(self.path.read_text())
                if state["current"] not in state["keys"]:
                    raise KeyError("current")
            except (ValueError, KeyError) as exc:
                raise OspError(f"{self.path} is not a valid KEK file ({exc})") from None
            return state
        state = {"current": "1", "keys": {"1": _b64(os.urandom(32))}}
        self._write(state)
        return state

    def _write(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        # Created 0600 from the first byte: never briefly world-readable.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime_ns

    def current_version(self) -> str:
        self._refresh()
        return str(self._state["current"])

    def _key(self, version: str) -> bytes:
        if version not in self._state["keys"]:
            self._refresh()
        try:
            return base64.b64decode(self._state["keys"][version])
        except KeyError:
            raise IntegrityFailure(f"KEK version {version} is not in {self.path}") from None

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        version = self.current_version()
        nonce = os.urandom(12)
        sealed = AESGCM(self._key(version)).encrypt(nonce, dek, aad + version.encode())
        return version, nonce + sealed

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes:
        try:
            return AESGCM(self._key(version)).decrypt(
                wrapped[:12], wrapped[12:], aad + version.encode()
            )
        except (InvalidTag, ValueError):
            raise IntegrityFailure("data key failed to unwrap (wrong KEK or moved row)") from None

    def rotate(self) -> str:
        new = str(max(int(v) for v in self._state["keys"]) + 1)
        state = {"current": new, "keys": {**self._state["keys"], new: _b64(os.urandom(32))}}
        self._write(state)
        self._state = state
        return new

    def retire(self, keep: str) -> None:
        state = {"current": keep, "keys": {keep: self._state["keys"][keep]}}
        self._write(state)
        self._state = state


class TransitKek:
    """Data keys wrapped by a Vault/OpenBao transit key; the KEK never leaves that server.

    Transit does not bind associated data for every key type, so the SHA-256 of our
    associated data is sealed inside the plaintext and checked on unwrap.
    """

    name = "transit"

    def __init__(self, url: str, token: str, key: str = "osp-kek", mount: str = "transit") -> None:
        import hvac

        self.client = hvac.Client(url=url, token=token)
        self.key = key
        self.mount = mount
        if not self.client.is_authenticated():
            raise OspError("transit KEK: the Vault token was refused")
        try:
            self.client.secrets.transit.read_key(name=key, mount_point=mount)
        except Exception:
            self.client.secrets.transit.create_key(name=key, mount_point=mount)

    def current_version(self) -> str:
        with _transit_call():
            info = self.client.secrets.transit.read_key(name=self.key, mount_point=self.mount)
        return str(info["data"]["latest_version"])

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        plaintext = hashlib.sha256(aad).digest() + dek
        with _transit_call():
            res = self.client.secrets.transit.encrypt_data(
                name=self.key, plaintext=_b64(plaintext), mount_point=self.mount
            )
        ct: str = res["data"]["ciphertext"]
        return ct.split(":")[1].lstrip("v"), ct.encode()

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes:
        import hvac.exceptions

        try:
            with _transit_call():
                res = self.client.secrets.transit.decrypt_data(
                    name=self.key, ciphertext=wrapped.decode(), mount_point=self.mount
                )
            plaintext = base64.b64decode(res["data"]["plaintext"])
        except (hvac.exceptions.InvalidRequest, UnicodeDecodeError, ValueError, KeyError):
            # Transit looked at the ciphertext and refused it: altered, or not ours.
            raise IntegrityFailure("transit refused to unwrap the data key") from None
        if plaintext[:32] != hashlib.sha256(aad).digest():
            raise IntegrityFailure("data key is bound to another secret (moved row)")
        return plaintext[32:]

    def rotate(self) -> str:
        with _transit_call():
            self.client.secrets.transit.rotate_key(name=self.key, mount_point=self.mount)
        return self.current_version()

    def retire(self, keep: str) -> None:
        with _transit_call():
            self.client.secrets.transit.update_key_configuration(
                name=self.key, min_decryption_version=int(keep), mount_point=self.mount
            )


@contextmanager
def _transit_call() -> Iterator[None]:
    """A call to the transit server; its outage is reported as an outage, not tampering."""
    import hvac.exceptions

    try:
        yield
    except hvac.exceptions.InvalidRequest:
        raise  # about the request itself (the caller decides what it means)
    except (OSError, hvac.exceptions.VaultError) as exc:
        # requests' connection errors are OSErrors; VaultError covers 5xx, sealed and
        # refused-token answers. None of them says anything about the stored data.
        raise Unavailable(f"the transit key service is unavailable ({type(exc).__name__})") \
            from None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
