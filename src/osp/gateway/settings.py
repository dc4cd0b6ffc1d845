"""Per-tenant agent settings: the model (provider, base URL, model name) and the rest of the
agent configuration document (governance policy, flows, tools, system prompt)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from osp.agent.config import AgentConfig, ConfigError, parse_config, parse_config_cached
from osp.audit.service import AuditTrail, canonical
from osp.db.session import Database
from osp.errors import InvalidInput, NotFound
from osp.gateway.models import AgentConfigRow, PolicyVersion

PROVIDERS = ("openai", "anthropic")
MAX_NOTE = 200
BEFORE_VERSIONS = "osp:before-versions"


def document_of(row: AgentConfigRow | None) -> dict[str, Any]:
    """The configuration document as the agent receives it (model columns merged in)."""
    document = dict(row.document) if row is not None else {}
    if row is not None and row.provider:
        document["model"] = {**document.get("model", {}), "provider": row.provider,
                             "base_url": row.base_url, "model": row.model}
    return document


def config_from_row(row: AgentConfigRow | None) -> AgentConfig:
    return parse_config_cached(document_of(row))


def one_line(message: str) -> str:
    """A multi-line validation report as one line ("configuration: a; b", no stray ":;")."""
    head, _, rest = message.partition(":\n")
    return f"{head}: {'; '.join(rest.splitlines())}" if rest else message.replace("\n", "; ")


class AgentSettings:
    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self.db = db
        self.audit = audit

    def get(self, tenant_id: uuid.UUID) -> AgentConfig:
        with self.db.tenant(tenant_id) as s:
            return config_from_row(s.get(AgentConfigRow, tenant_id))

    def document(self, tenant_id: uuid.UUID) -> dict[str, Any]:
        """Validated configuration document, as sent to the agent."""
        with self.db.tenant(tenant_id) as s:
            row = s.get(AgentConfigRow, tenant_id)
            config_from_row(row)  # validates (cached): an invalid document never travels
            return document_of(row)

    def set_model(self, tenant_id: uuid.UUID, provider: str, base_url: str | None,
                  model: str, actor: str) -> AgentConfig:
        if provider not in PROVIDERS:
            raise InvalidInput(f"provider must be one of {', '.join(PROVIDERS)}")
        if provider == "openai" and not base_url:
            raise InvalidInput("an OpenAI-compatible provider needs --base-url "
                               "(e.g. https://api.openai.com/v1 or http://osp-host:11434/v1)")
        try:
            parse_config({"model": {"provider": provider, "base_url": base_url,
                                    "model": model}})
        except ConfigError as exc:
            raise InvalidInput(one_line(str(exc))) from None
        with self.db.tenant(tenant_id) as s:
            row = _locked_row(s, tenant_id)
            row.provider, row.base_url, row.model = provider, base_url, model
            s.flush()
            self.audit.record(s, tenant_id, actor, "agent.model_set",
                              {"provider": provider, "base_url": base_url, "model": model})
            return config_from_row(row)

    def set_document(self, tenant_id: uuid.UUID, document: dict[str, Any], actor: str, *,
                     note: str = "", restored_from: int | None = None) -> AgentConfig:
        """Replaces policy, flows, tools and prompt; the model is set with ``set_model``.
        Every save is kept as a new numbered version (``versions``, ``restore``)."""
        # Of the model, only how long to wait and how often to retry live in the document;
        # provider, model and base_url (which receives the model key) only via set_model.
        timing = {k: v for k, v in (document.get("model") or {}).items()
                  if k in ("timeout_s", "retries")} \
            if isinstance(document.get("model"), dict) else {}
        document = {k: v for k, v in document.items() if k != "model"}
        if timing:
            document["model"] = timing
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"the version note is longer than {MAX_NOTE} characters")
        try:
            config = parse_config(document)
        except ConfigError as exc:
            raise InvalidInput(one_line(str(exc))) from None
        with self.db.tenant(tenant_id) as s:
            row = _locked_row(s, tenant_id)  # the lock also orders concurrent versions
            latest = s.execute(select(func.max(PolicyVersion.version))
                               .where(PolicyVersion.tenant_id == tenant_id)).scalar()
            if latest is None and row.document:
                # A document saved before versions were kept becomes version 1.
                s.add(_version(tenant_id, 1, row.document, BEFORE_VERSIONS, "", None))
                latest = 1
            version = (latest or 0) + 1
            row.document = document
            s.add(_version(tenant_id, version, document, actor, note, restored_from))
            s.flush()
            details: dict[str, Any] = {
                "digest": config.digest(), "version": version, "flows": len(config.flows),
                "tools_allowed": list(config.governance_policy().tools.allowed)}
            if restored_from is not None:
                details["restored_from"] = restored_from
            self.audit.record(s, tenant_id, actor,
                              "agent.config_restored" if restored_from else "agent.config_set",
                              details)
            return config_from_row(row)

    def versions(self, tenant_id: uuid.UUID, limit: int = 100) -> list[PolicyVersion]:
        """Saved versions, newest first."""
        with self.db.tenant(tenant_id) as s:
            return list(s.execute(select(PolicyVersion)
                                  .where(PolicyVersion.tenant_id == tenant_id)
                                  .order_by(PolicyVersion.version.desc()).limit(limit))
                        .scalars())

    def version(self, tenant_id: uuid.UUID, version: int) -> PolicyVersion:
        with self.db.tenant(tenant_id) as s:
            row = s.get(PolicyVersion, (tenant_id, version))
            if row is None:
                raise NotFound(f"no policy version {version}")
            return row

    def restore(self, tenant_id: uuid.UUID, version: int, actor: str) -> AgentConfig:
        """Saves an earlier version's document as a new version (history is never
        rewritten); validated again, as the rules may have changed since."""
        old = self.version(tenant_id, version)
        return self.set_document(tenant_id, dict(old.document), actor,
                                 note=f"restored from version {version}",
                                 restored_from=version)


def _version(tenant_id: uuid.UUID, version: int, document: dict[str, Any], actor: str,
             note: str, restored_from: int | None) -> PolicyVersion:
    digest = hashlib.sha256(canonical(document)).hexdigest()
    return PolicyVersion(tenant_id=tenant_id, version=version, document=document,
                         digest=digest, actor=actor[:200], note=note,
                         restored_from=restored_from)


def _locked_row(s: Session, tenant_id: uuid.UUID) -> AgentConfigRow:
    """The tenant's config row, locked for update (created empty on first write)."""
    row = s.get(AgentConfigRow, tenant_id, with_for_update=True)
    if row is None:
        row = AgentConfigRow(tenant_id=tenant_id, document={})
        s.add(row)
    return row
