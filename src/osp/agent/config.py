"""The agent's configuration document: model settings, governance policy, dialog flows, tools.

The control plane stores it per tenant (``agent_config``) and sends it with every message, so
the agent always acts on the current settings without a restart. It holds no secret: the
model key reaches the agent only through boot-time injection (SPEC section C).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from osp.governance import Policy, PolicyError, parse_policy

_DOMAIN = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")


class ConfigError(ValueError):
    """The configuration is invalid; the message lists the problems, one per line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettings(_Strict):
    provider: Literal["openai", "anthropic"] | None = None
    base_url: str | None = Field(default=None, max_length=2000)
    model: str | None = Field(default=None, max_length=200)
    timeout_s: float = Field(default=60.0, gt=0, le=600)
    retries: int = Field(default=2, ge=0, le=5)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("base_url must be an http:// or https:// URL")
        return v


class Flow(_Strict):
    """An allowed path: when a message matches an intent, the agent follows these steps
    (one per turn) with predefined responses instead of free generation."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")
    examples: list[str] = Field(min_length=1, description="Example utterances of the intent")
    steps: list[str] = Field(min_length=1, description="Predefined responses, in order")
    threshold: float = Field(default=0.5, gt=0, le=1)


class HttpGetSettings(_Strict):
    allowed_domains: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=10.0, gt=0, le=60)

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if not _DOMAIN.fullmatch(d)]
        if bad:
            raise ValueError(f"not a domain name: {bad[:3]}")
        return v


class ConnectedAppSettings(_Strict):
    """Where connected-app tools call their provider. By default the provider's own API;
    ``api_base`` may point an API origin at a stand-in on this host (tests, a mirror).

    Only ``osp-host`` (this tenant network's gateway, i.e. the operator's machine) is
    accepted as a target: the call carries the person's access token, which must never be
    sendable to an address a tenant administrator picks."""

    api_base: dict[str, str] = Field(default_factory=dict)

    @field_validator("api_base")
    @classmethod
    def _host_local(cls, v: dict[str, str]) -> dict[str, str]:
        from osp.oauth.tools import api_origins

        for origin, target in v.items():
            if origin not in api_origins():
                raise ValueError(f"{origin[:80]!r} is not the API origin of a connected-app "
                                 "tool")
            if not re.fullmatch(r"https?://osp-host(:\d{1,5})?(/[^\s?#]*)?", target):
                raise ValueError(f"{origin}: the stand-in must be http(s)://osp-host[:port]/…")
        return v


class ToolSettings(_Strict):
    http_get: HttpGetSettings = Field(default_factory=HttpGetSettings)
    connected: ConnectedAppSettings = Field(default_factory=ConnectedAppSettings)
    max_result_chars: int = Field(default=4000, ge=100, le=100_000)
    max_rounds: int = Field(default=5, ge=1, le=20)


class ChannelSettings(_Strict):
    slack_api_url: str = Field(default="https://slack.com/api", pattern=r"^https?://")
    telegram_api_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://")


class AgentConfig(_Strict):
    model: ModelSettings = Field(default_factory=ModelSettings)
    policy: dict[str, Any] = Field(default_factory=lambda: {"preset": "lean"})
    flows: list[Flow] = Field(default_factory=list)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    system_prompt: str = Field(default="You are a helpful assistant.", max_length=20_000)
    history_turns: int = Field(default=10, ge=0, le=100)
    knowledge_top_k: int = Field(default=3, ge=0, le=20)
    approval_ttl_s: int = Field(default=3600, ge=10, le=7 * 24 * 3600)

    def governance_policy(self) -> Policy:
        return parse_policy(self.policy)

    def digest(self) -> str:
        raw = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(raw).hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _parse_canonical(raw: str) -> AgentConfig:
    return parse_config(json.loads(raw))


def parse_config_cached(data: Any) -> AgentConfig:
    """Same as :func:`parse_config`, remembered by content: the same document arrives with
    every message, and validating a policy costs more than the rest of a message's routing.
    AgentConfig is frozen, so sharing one instance is safe."""
    return _parse_canonical(json.dumps(data, sort_keys=True))


def parse_config(data: Any) -> AgentConfig:
    try:
        config = AgentConfig.model_validate(data)
        config.governance_policy()
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: "
                 f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise ConfigError("invalid agent configuration:\n" + "\n".join(lines)) from None
    except PolicyError as exc:
        raise ConfigError(str(exc)) from None
    return config
