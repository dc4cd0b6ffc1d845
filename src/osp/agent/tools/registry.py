"""The tool registry: explicit registration, unique names, JSON Schemas checked at registration.

Argument validation implements the part of JSON Schema that tool contracts use (object,
properties, required, additionalProperties, type, enum, min/maxLength, minimum/maximum,
pattern, items); a schema using anything else is refused at registration, so a tool can
never rely on a keyword that would be silently ignored. The checking itself is
:func:`osp.checks.arguments.schema_problems`, shared with the execution rail and the
connected-app executor: ``pattern`` must match the whole value (not JSON Schema's "anywhere").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from osp.agent.providers.base import ToolSpec
from osp.checks.arguments import TYPES, schema_problems

SUPPORTED = {"type", "properties", "required", "additionalProperties", "enum", "minLength",
             "maxLength", "minimum", "maximum", "pattern", "items", "description", "default"}


class ToolError(Exception):
    """A tool failed; the message is returned to the model as the tool's result."""


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class ToolContext:
    tenant: str
    channel: str
    user: str
    approval_id: str | None = None  # set when a person approved this very call


Handler = Callable[[Mapping[str, Any], ToolContext], str]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


def _check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise RegistryError(f"{where}: schema must be an object")
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise RegistryError(f"{where}: unsupported schema keyword(s) {sorted(unknown)}")
    if schema.get("type") not in TYPES:
        raise RegistryError(f"{where}: every schema needs a known type")
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}.{name}")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}[]")


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", tool.name):
            raise RegistryError(f"tool name {tool.name!r} is not a valid identifier")
        if tool.name in self._tools:
            raise RegistryError(f"tool {tool.name!r} is already registered")
        _check_schema(tool.parameters, tool.name)
        if tool.parameters["type"] != "object":
            raise RegistryError(f"{tool.name}: arguments must be an object")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self, allowed: Sequence[str]) -> list[ToolSpec]:
        """Only allowed tools are shown to the model; the execution rail still checks calls."""
        return [self._tools[n].spec() for n in sorted(set(allowed)) if n in self._tools]

    def validate(self, name: str, arguments: Mapping[str, Any]) -> list[str]:
        tool = self._tools.get(name)
        if tool is None:
            return [f"unknown tool {name!r}"]
        return schema_problems(dict(arguments), tool.parameters)
