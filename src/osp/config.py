"""Settings, read from the environment (prefix ``OSP_``) and overridable by CLI flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "osp"


class Settings(BaseSettings):
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
    kek_provider: str = "local"  # "local" | "transit"
    transit_url: str | None = None
    transit_key: str = "osp-kek"
    transit_mount: str = "transit"
    # Cookies are Secure by default; only a plain-HTTP loopback dev setup turns this off.
    cookie_secure: bool = True
    log_level: str = "info"
    # Largest request body any route accepts (bytes); webhooks read with smaller caps.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Where audit anchors (each trail's head, outside the database) are kept.
    audit_anchor_file: Path | None = None

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
