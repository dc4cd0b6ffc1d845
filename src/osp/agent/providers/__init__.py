"""Model providers: OpenAI-compatible chat completions and the Anthropic Messages API."""

from __future__ import annotations

from osp.agent.providers.base import (
    ModelReply,
    Provider,
    ProviderError,
    ToolRequest,
    ToolSpec,
)
from osp.agent.providers.factory import NoModelConfigured, make_provider

__all__ = [
    "ModelReply",
    "NoModelConfigured",
    "Provider",
    "ProviderError",
    "ToolRequest",
    "ToolSpec",
    "make_provider",
]
