"""Picks a provider from the tenant's model settings and its boot-injected key."""

from __future__ import annotations

from collections.abc import Mapping

from osp.agent.providers.anthropic import AnthropicProvider
from osp.agent.providers.base import Provider, ProviderError
from osp.agent.providers.http import RetryPolicy
from osp.agent.providers.openai import OpenAIProvider

MODEL_KEY_SECRET = "MODEL_API_KEY"  # noqa: S105 - the name of a secret, not its value


class NoModelConfigured(ProviderError):
    pass


def make_provider(provider: str | None, base_url: str | None, model: str | None,
                  secrets: Mapping[str, str], retry: RetryPolicy | None = None) -> Provider:
    """The key comes only from ``secrets`` (delivered at boot), never from the request."""
    if not provider or not model:
        raise NoModelConfigured(
            "no model is configured for this agent yet: an operator runs "
            "`osp tenant set-model NAME --provider openai|anthropic --model MODEL`")
    key = secrets.get(MODEL_KEY_SECRET)
    if provider == "openai":
        if not base_url:
            raise NoModelConfigured("the OpenAI-compatible model needs a base URL")
        return OpenAIProvider(base_url, model, key, retry)
    if provider == "anthropic":
        return AnthropicProvider(base_url, model, key, retry)
    raise NoModelConfigured(f"unknown model provider {provider[:20]!r}")
