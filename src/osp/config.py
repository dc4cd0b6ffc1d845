"""Settings, read from the environment (prefix ``OSP_``) and overridable by CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "osp"


class Settings(BaseSettings):
    """Every setting of the control plane and the CLI; each field is read from ``OSP_<NAME>``
    (docs/configuration.md lists them). Nothing else in the control plane reads the
    environment."""

    model_config = SettingsConfigDict(env_prefix="OSP_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # Run-time DSN, must be the non-privileged ``osp_app`` role. Unset: embedded Postgres.
    database_url: str | None = None
    # Owner/superuser DSN used only by migrations. Unset: the embedded server's superuser.
    admin_database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8400
    # Tenant containers reach only this listener (see runtime); the admin API stays on ``port``.
    internal_port: int = 8401
    # `osp model serve` and `osp up --local-model`: the local model's OpenAI-compatible API.
    model_port: int = Field(default=8402, ge=1, le=65535)
    kek_provider: str = "local"  # "local" | "transit"
    transit_url: str | None = None
    transit_key: str = "osp-kek"
    transit_mount: str = "transit"
    # The transit server's token. ``VAULT_TOKEN`` is the name Vault's own tools use.
    vault_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OSP_VAULT_TOKEN", "VAULT_TOKEN"))
    # Cookies are Secure by default; only a plain-HTTP loopback dev setup turns this off.
    cookie_secure: bool = True
    log_level: str = "info"
    # Largest request body any route accepts (bytes); webhooks read with smaller caps.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Where audit anchors (each trail's head, outside the database) are kept.
    audit_anchor_file: Path | None = None
    # Two installations on one host need distinct prefixes *and* pools: each one's nft table
    # drops everything else from its pool.
    runtime_prefix: str = "osp"
    runtime_pool: str = "10.213.0.0/16"
    # "auto": each tenant container under its own subordinate UID/GID slice; "host": none.
    runtime_userns: Literal["auto", "host"] = "auto"
    # Development and tests only: lets operators register authorization servers on loopback
    # (plain http included). Off by default, because the control plane calls those servers.
    oauth_allow_loopback: bool = False
    # The control plane the CLI talks to; unset: http://<host>:<port>.
    url: str | None = None
    # The API token ``osp chat`` sends.
    token: SecretStr | None = None

    @property
    def api_url(self) -> str:
        return (self.url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def anchor_path(self) -> Path:
        return self.audit_anchor_file or self.data_dir / "audit-anchors.json"

    @property
    def kek_file(self) -> Path:
        return self.data_dir / "kek.json"

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"


def load_settings(**overrides: object) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
