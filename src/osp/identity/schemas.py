from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from osp.checks.names import TENANT_NAME_MAX
from osp.inputs import InputModel


class LoginIn(InputModel):
    tenant: str = Field(max_length=TENANT_NAME_MAX)
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)


class LoginOut(BaseModel):
    stage: str
    csrf_token: str


class SecondFactorIn(InputModel):
    code: str | None = Field(default=None, max_length=10)
    recovery_code: str | None = Field(default=None, max_length=64)


class EnrolOut(BaseModel):
    otpauth_uri: str
    secret: str


class ConfirmIn(InputModel):
    code: str = Field(max_length=10)


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class MeOut(BaseModel):
    tenant_id: uuid.UUID
    user_id: uuid.UUID | None
    role: str
    kind: str
    scopes: list[str]


class UserIn(InputModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    role: str = "member"


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    totp_enabled: bool
    created_at: datetime


class TokenIn(InputModel):
    name: str = Field(max_length=100)
    scopes: list[str]
    expires_days: int | None = None


class TokenCreatedOut(BaseModel):
    id: uuid.UUID
    token: str = Field(description="Shown once; only its hash is stored.")


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
