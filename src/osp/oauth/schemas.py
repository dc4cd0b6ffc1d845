from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, SecretStr


class ProviderIn(BaseModel):
    name: str = Field(max_length=40)
    issuer: str | None = Field(default=None, max_length=2000)
    catalog: str | None = Field(default=None, max_length=40)
    client_id: str = Field(max_length=500)
    # SecretStr: never in a repr, a validation error or a log line.
    client_secret: SecretStr = Field(max_length=4096)
    redirect_uri: str = Field(max_length=2000)


class ProviderOut(BaseModel):
    name: str
    catalog_key: str | None
    issuer: str | None
    openid: bool
    pkce: bool
    revocation: str
    client_id: str
    redirect_uri: str
    created_at: datetime


class ConnectIn(BaseModel):
    provider: str = Field(max_length=40)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    integrations: list[str] = Field(default_factory=list, max_length=20)


class ConnectOut(BaseModel):
    authorization_url: str
    expires_at: datetime


class ConnectionOut(BaseModel):
    id: uuid.UUID
    provider: str
    status: str
    status_reason: str | None
    requested_scopes: list[str]
    granted_scopes: list[str]
    access_expires_at: datetime | None
    last_refresh_at: datetime | None
    created_at: datetime


class RevokeOut(BaseModel):
    provider: str
    connection_id: uuid.UUID
    at_provider: str
    manual_revoke_url: str | None


class IntegrationOut(BaseModel):
    key: str
    title: str
    scopes: list[str]


class ToolOut(BaseModel):
    name: str
    title: str
    provider: str
    integration: str
    scope: str
    approval: bool


class CatalogOut(BaseModel):
    key: str
    title: str
    openid: bool
    pkce: bool
    revocation: str
    refresh_rotates: bool
    refresh_note: str
    integrations: list[IntegrationOut]


class AgentConnectionOut(BaseModel):
    id: uuid.UUID
    provider: str
    status: str
    scopes: list[str]


class AgentTokenIn(BaseModel):
    connection_id: uuid.UUID
    scope: str = Field(max_length=500)
    force_refresh: bool = False


class AgentTokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (a type name, not a secret)
    expires_at: datetime | None
    scope: str


class AgentRunIn(BaseModel):
    approval_id: uuid.UUID
    arguments: dict[str, Any]


class AgentRunOut(BaseModel):
    status: int
    data: Any
