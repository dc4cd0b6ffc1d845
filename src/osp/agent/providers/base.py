"""Provider-neutral shapes: the agent loop speaks these; each provider translates.

Conversation messages use one neutral form (close to OpenAI's)::

    {"role": "user" | "assistant" | "tool", "content": str,
     "tool_calls": [ToolRequest as dict], "tool_call_id": str}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, Any]


class ProviderError(Exception):
    """The model provider failed. ``str(exc)`` is one line, fit to show the person."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolRequest:
    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    # Set when the model sent arguments that are not a JSON object: refused, never guessed.
    malformed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class ModelReply:
    text: str
    tool_calls: tuple[ToolRequest, ...] = ()


class Provider(Protocol):
    def complete(self, system: str, messages: Sequence[Message],
                 tools: Sequence[ToolSpec]) -> ModelReply: ...
