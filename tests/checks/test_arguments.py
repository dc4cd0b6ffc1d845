"""One argument validator: a rule means the same in the agent's tool registry, in the
governance execution rail and in the connected-app executor. ``pattern`` must match the whole
value on every path (the agent used to accept a match anywhere in it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from osp.agent.tools.connected import json_schema
from osp.agent.tools.registry import Tool, ToolRegistry
from osp.checks.arguments import argument_problems, pattern_matches, schema_problems
from osp.governance import Policy, Stage, ToolCall
from osp.oauth.tools import ToolSpec
from osp.oauth.tools import argument_problems as oauth_argument_problems
from tests.governance.conftest import build

# (rule in the policy's ArgConstraint shape, value, accepted?)
CASES: list[tuple[dict[str, Any], Any, bool]] = [
    ({"type": "string", "pattern": r"[^@]+@corp\.example"}, "ann@corp.example", True),
    # The attack: the allowed domain somewhere inside a value that goes elsewhere.
    ({"type": "string", "pattern": r"[^@]+@corp\.example"}, "x@evil.example#@corp.example",
     False),
    ({"type": "string", "pattern": r"[^@]+@corp\.example"}, "ann@corp.example.evil", False),
    ({"type": "string", "pattern": "public-.*"}, "secret-public-x", False),
    ({"type": "string", "pattern": "^https?://"}, "https://example.org/x", False),
    ({"type": "string", "pattern": "[a-z]+"}, "abc", True),
    ({"type": "string", "pattern": "[a-z]+"}, "abc\n", False),
    ({"type": "string", "max_length": 3}, "abcd", False),
    ({"type": "string", "enum": ["a", "b"]}, "c", False),
    ({"type": "integer", "minimum": 0, "maximum": 5}, 6, False),
    ({"type": "integer"}, True, False),
    ({"type": "number", "minimum": 0}, 0.5, True),
]

_JSON_SCHEMA_KEYS = {"type": "type", "max_length": "maxLength", "pattern": "pattern",
                     "enum": "enum", "minimum": "minimum", "maximum": "maximum"}


def _agent_accepts(rule: Mapping[str, Any], value: Any) -> bool:
    registry = ToolRegistry()
    prop = {_JSON_SCHEMA_KEYS[k]: v for k, v in rule.items()}
    registry.register(Tool("probe", "probe", {
        "type": "object", "properties": {"v": prop}, "required": ["v"],
        "additionalProperties": False}, lambda _a, _c: ""))
    return registry.validate("probe", {"v": value}) == []


def _spec(rule: Mapping[str, Any]) -> ToolSpec:
    return ToolSpec(name="probe", title="probe", provider="p", integration="i", scope="s",
                    approval=False, method="GET", url="https://api.example/x", body="none",
                    path_args=(), query_args=("v",), fixed_query={},
                    arguments={"v": {**rule, "required": True}})


def _agent_connected_tool_accepts(rule: Mapping[str, Any], value: Any) -> bool:
    # A connected-app tool's rules, as the schema the agent registers for it.
    registry = ToolRegistry()
    registry.register(Tool("probe", "probe", json_schema(_spec(rule)), lambda _a, _c: ""))
    return registry.validate("probe", {"v": value}) == []


def _rail_accepts(rule: Mapping[str, Any], value: Any) -> bool:
    policy = Policy.model_validate({"tools": {
        "allowed": ["probe"], "arguments": {"probe": {"v": {**rule, "required": True}}},
        "allow_unknown_arguments": False}})
    call = ToolCall("probe", {"v": value})
    pipe = build(policy)
    try:
        return pipe.check(Stage.EXECUTION, call.name, tool_call=call).action == "allow"
    finally:
        pipe.close()


def _oauth_accepts(rule: Mapping[str, Any], value: Any) -> bool:
    return oauth_argument_problems(_spec(rule), {"v": value}) == []


@pytest.mark.parametrize(("rule", "value", "accepted"), CASES)
def test_a_rule_means_the_same_on_every_path(rule: dict[str, Any], value: Any,
                                             accepted: bool) -> None:
    seen = {"shared": argument_problems({"v": value}, {"v": rule}) == [],
            "agent": _agent_accepts(rule, value),
            "agent, connected-app tool": _agent_connected_tool_accepts(rule, value),
            "execution rail": _rail_accepts(rule, value),
            "connected-app executor": _oauth_accepts(rule, value)}
    assert seen == dict.fromkeys(seen, accepted)


def test_pattern_is_a_whole_value_match() -> None:
    assert pattern_matches("[a-z]+", "abc")
    assert not pattern_matches("[a-z]+", "abc1")
    assert not pattern_matches("b", "abc")


def test_nested_json_schema_uses_the_same_rules() -> None:
    schema = {"type": "object", "properties": {"tags": {"type": "array", "items": {
        "type": "string", "pattern": "[a-z]+"}}}, "additionalProperties": False}
    assert schema_problems({"tags": ["ok", "no!"]}, schema) == [
        "tags[1]: does not match the pattern"]
