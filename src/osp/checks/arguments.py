"""Tool-argument validation: one implementation and one meaning of every rule.

Three places check a tool call's arguments: the agent's tool registry (against the tool's
JSON Schema), the governance execution rail (against the tenant policy's argument rules) and
the connected-app executor (against ``tools.json``). They all call this module, so a rule
accepts and refuses the same values on every path.

A rule has the shape of the governance policy's ``ArgConstraint``: ``type``, ``required``,
``enum``, ``min_length``, ``max_length``, ``pattern``, ``minimum``, ``maximum``. In a JSON
Schema the same rules are spelled ``minLength``/``maxLength`` and nest through
``properties``/``items``/``required``/``additionalProperties``.

``pattern`` is a Python regular expression that must match the **whole** value
(``re.fullmatch``), with or without ``^``/``$``. This differs on purpose from JSON Schema,
where a pattern may match anywhere: an allow-list such as ``[^@]+@corp\\.example`` read as
"match anywhere" lets ``x@evil.example#@corp.example`` through, so the looser reading is
never used, on any path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TYPES: Mapping[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
    "number": (int, float), "boolean": (bool,),
}
# JSON Schema spelling -> rule spelling; every other keyword is spelled the same.
_SCHEMA_NAMES = {"minLength": "min_length", "maxLength": "max_length"}
_RULE_KEYWORDS = ("type", "enum", "min_length", "max_length", "pattern", "minimum", "maximum")


def pattern_matches(pattern: str, value: str) -> bool:
    """The one meaning of ``pattern``: the whole value matches."""
    return re.fullmatch(pattern, value) is not None


def _type_ok(value: Any, kind: str) -> bool:
    if kind not in TYPES:
        return False  # an unknown type accepts nothing (fail closed)
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False  # bool is an int in Python, not in a tool contract
    return isinstance(value, TYPES[kind])


def value_problems(value: Any, rule: Mapping[str, Any], where: str) -> list[str]:
    """What is wrong with one value under one rule (empty: it passes)."""
    kind = rule.get("type")
    if kind is not None and not _type_ok(value, kind):
        return [f"{where}: expected {kind}"]
    problems: list[str] = []
    if rule.get("enum") is not None and value not in rule["enum"]:
        problems.append(f"{where}: not one of the allowed values")
    if isinstance(value, str):
        if rule.get("max_length") is not None and len(value) > rule["max_length"]:
            problems.append(f"{where}: longer than {rule['max_length']}")
        if rule.get("min_length") is not None and len(value) < rule["min_length"]:
            problems.append(f"{where}: shorter than {rule['min_length']}")
        if rule.get("pattern") is not None and not pattern_matches(rule["pattern"], value):
            problems.append(f"{where}: does not match the pattern")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if rule.get("minimum") is not None and value < rule["minimum"]:
            problems.append(f"{where}: below {rule['minimum']}")
        if rule.get("maximum") is not None and value > rule["maximum"]:
            problems.append(f"{where}: above {rule['maximum']}")
    return problems


def argument_problems(args: Mapping[str, Any], rules: Mapping[str, Mapping[str, Any]],
                      allow_unknown: bool = False) -> list[str]:
    """Flat arguments against per-argument rules (policy and ``tools.json`` shape)."""
    problems: list[str] = []
    for name, rule in rules.items():
        if name not in args:
            if rule.get("required"):
                problems.append(f"{name}: required")
            continue
        problems += value_problems(args[name], rule, name)
    if not allow_unknown:
        problems += [f"{n}: not an allowed argument" for n in args if n not in rules]
    return problems


def rules_as_schema(rules: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per-argument rules as the equivalent closed JSON Schema object (what a model is shown
    and the agent's registry checks): same rules, so the same verdicts."""
    names = {v: k for k, v in _SCHEMA_NAMES.items()}
    return {"type": "object",
            "properties": {name: {names.get(k, k): rule[k] for k in _RULE_KEYWORDS
                                  if rule.get(k) is not None}
                           for name, rule in rules.items()},
            "required": [name for name, rule in rules.items() if rule.get("required")],
            "additionalProperties": False}


def schema_problems(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """A value against the JSON Schema subset tool contracts use, with the rules above."""
    where = path or "arguments"
    if not _type_ok(value, schema.get("type", "")):
        return [f"{where}: expected {schema.get('type')}"]
    problems = value_problems(value, {_SCHEMA_NAMES.get(k, k): v for k, v in schema.items()},
                              where)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        problems += [f"{path}.{r}: required" if path else f"{r}: required"
                     for r in schema.get("required", ()) if r not in value]
        for key, item in value.items():
            if key in props:
                problems += schema_problems(item, props[key], f"{path}.{key}" if path else key)
            elif schema.get("additionalProperties", False) is False:
                problems.append(f"{key}: not an allowed argument")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += schema_problems(item, schema["items"], f"{where}[{i}]")
    return problems
