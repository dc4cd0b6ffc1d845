"""Messages at rest: text, reply and error sealed with the tenant's own data key.

Each tenant has one 256-bit message data key, created on first use and stored wrapped by the
platform KEK (``message_protection``); each value is AES-256-GCM with a fresh nonce and the
tenant, message id and column as associated data, so a ciphertext copied to another row,
column or tenant fails authentication instead of decrypting. The unwrapped key is cached per
process (unwrapping may be a call to the transit KEK). Rows written before this existed are
read as they are (they carry no prefix) and sealed when next written.

Retention: a tenant may set how many days messages are kept; :meth:`MessageProtection.expire`
deletes older finished messages (with their approvals) and audits how many.
"""

from __future__ import annotations

import base64
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from osp.audit.service import AuditTrail
from osp.db.session import Database
from osp.errors import IntegrityFailure, InvalidInput
from osp.gateway.models import AgentMessage, MessageProtectionRow
from osp.vault.service import Vault

PREFIX = "osp-sealed:1:"
MAX_ERROR_BYTES = 300  # sealed and encoded, an error still fits its 500-character column
FINISHED = ("answered", "refused", "failed")  # retention never deletes a message in flight


def _aad(tenant_id: uuid.UUID, message_id: uuid.UUID, column: str) -> bytes:
    return f"osp:message|{tenant_id}|{message_id}|{column}".encode()


def _key_aad(tenant_id: uuid.UUID) -> bytes:
    return f"osp:message-key|{tenant_id}".encode()


def clip_utf8(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


class MessageProtection:
    def __init__(self, db: Database, vault: Vault, audit: AuditTrail) -> None:
        self.db, self.vault, self.audit = db, vault, audit
        self._keys: dict[uuid.UUID, bytes] = {}
        self._lock = threading.Lock()

    # -- the data key --------------------------------------------------------------------
    def _key(self, s: Session, tenant_id: uuid.UUID) -> bytes:
        with self._lock:
            key = self._keys.get(tenant_id)
        if key is not None:
            return key
        row = s.get(MessageProtectionRow, tenant_id)
        if row is None:
            # Created and committed in a transaction of its own, before anything is sealed
            # with it: a key that rolled back with the caller's transaction (while this
            # process cached it) would leave values nobody can open after a restart.
            self._create(tenant_id)
            row = s.get(MessageProtectionRow, tenant_id, populate_existing=True)
            if row is None:
                raise IntegrityFailure("the message data key could not be stored")
        key = self.vault.kek.unwrap(row.kek_version, row.wrapped_dek, _key_aad(tenant_id))
        with self._lock:
            self._keys[tenant_id] = key
        return key

    def _create(self, tenant_id: uuid.UUID) -> None:
        fresh = AESGCM.generate_key(bit_length=256)
        version, wrapped = self.vault.kek.wrap(fresh, _key_aad(tenant_id))
        with self.db.tenant(tenant_id) as s:
            # Two first messages at once: one key wins, both use it.
            s.execute(insert(MessageProtectionRow).values(
                tenant_id=tenant_id, kek_version=version, wrapped_dek=wrapped)
                .on_conflict_do_nothing(index_elements=["tenant_id"]))

    def rewrap_tenant(self, s: Session, tenant_id: uuid.UUID) -> int:
        """KEK rotation: the same data key, wrapped under the current KEK version."""
        row = s.get(MessageProtectionRow, tenant_id, with_for_update=True)
        if row is None:
            return 0
        aad = _key_aad(tenant_id)
        row.kek_version, row.wrapped_dek = self.vault.kek.wrap(
            self.vault.kek.unwrap(row.kek_version, row.wrapped_dek, aad), aad)
        return 1

    # -- values --------------------------------------------------------------------------
    def seal(self, s: Session, tenant_id: uuid.UUID, message_id: uuid.UUID, column: str,
             text: str | None) -> str | None:
        if text is None:
            return None
        nonce = os.urandom(12)
        sealed = AESGCM(self._key(s, tenant_id)).encrypt(
            nonce, text.encode(), _aad(tenant_id, message_id, column))
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, s: Session, tenant_id: uuid.UUID, message_id: uuid.UUID, column: str,
             stored: str | None) -> str | None:
        if stored is None or not stored.startswith(PREFIX):
            return stored  # written before messages were sealed
        raw = base64.b64decode(stored[len(PREFIX):])
        try:
            return AESGCM(self._key(s, tenant_id)).decrypt(
                raw[:12], raw[12:], _aad(tenant_id, message_id, column)).decode()
        except (InvalidTag, ValueError):
            raise IntegrityFailure(f"message {message_id} failed its integrity check "
                                   f"({column})") from None

    # -- retention -----------------------------------------------------------------------
    def set_retention(self, tenant_id: uuid.UUID, days: int | None, actor: str) -> None:
        if days is not None and not 1 <= days <= 3650:
            raise InvalidInput("retention_days must be between 1 and 3650, or null to keep "
                               "messages")
        with self.db.tenant(tenant_id) as s:
            self._key(s, tenant_id)  # the row exists from here on
            row = s.get(MessageProtectionRow, tenant_id, with_for_update=True)
            assert row is not None
            row.retention_days = days
            self.audit.record(s, tenant_id, actor, "messages.retention_set",
                              {"retention_days": days})

    def retention(self, tenant_id: uuid.UUID) -> int | None:
        with self.db.tenant(tenant_id) as s:
            row = s.get(MessageProtectionRow, tenant_id)
            return row.retention_days if row else None

    def expire(self, tenant_id: uuid.UUID, now: datetime | None = None) -> int:
        """Deletes the tenant's finished messages older than its retention; audited."""
        now = now or datetime.now(UTC)
        with self.db.tenant(tenant_id) as s:
            row = s.get(MessageProtectionRow, tenant_id)
            if row is None or row.retention_days is None:
                return 0
            cutoff = now - timedelta(days=row.retention_days)
            doomed = select(AgentMessage.id).where(AgentMessage.created_at < cutoff,
                                                   AgentMessage.status.in_(FINISHED))
            deleted = len(s.execute(delete(AgentMessage).where(AgentMessage.id.in_(doomed))
                                    .returning(AgentMessage.id)
                                    .execution_options(synchronize_session=False)).all())
            if deleted:
                self.audit.record(s, tenant_id, "system:retention", "messages.expired",
                                  {"deleted": deleted, "older_than": cutoff.isoformat(),
                                   "retention_days": row.retention_days})
            return deleted
