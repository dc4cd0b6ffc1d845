"""Execution rail: tool allow-list, approval gating and argument validation.

The checked content of this stage is the tool call in ``ctx.tool_call``; ``text`` is its
serialised form (for hashing into the audit trail).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from osp.governance.decisions import Allow, Decision, Reason, Stage
from osp.governance.interfaces import RailContext
from osp.governance.policy import ArgConstraint
from osp.governance.rails.base import BaseRail

_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def argument_problems(
    args: Mapping[str, Any], rules: Mapping[str, ArgConstraint], allow_unknown: bool
) -> list[str]:
    problems = []
    for name, rule in rules.items():
        if name not in args:
            if rule.required:
                problems.append(f"{name}: required")
            continue
        value = args[name]
        if rule.type is not None:
            ok = isinstance(value, _TYPES[rule.type])
            if isinstance(value, bool) and rule.type in ("integer", "number"):
                ok = False  # bool is an int subclass in Python; not in a tool contract
            if not ok:
                problems.append(f"{name}: expected {rule.type}")
                continue
        if rule.enum is not None and value not in rule.enum:
            problems.append(f"{name}: not one of the allowed values")
        if isinstance(value, str):
            if rule.max_length is not None and len(value) > rule.max_length:
                problems.append(f"{name}: longer than {rule.max_length}")
            if rule.pattern is not None and not re.fullmatch(rule.pattern, value):
                problems.append(f"{name}: does not match pattern")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if rule.minimum is not None and value < rule.minimum:
                problems.append(f"{name}: below {rule.minimum}")
            if rule.maximum is not None and value > rule.maximum:
                problems.append(f"{name}: above {rule.maximum}")
    if not allow_unknown:
        problems.extend(f"{n}: not an allowed argument" for n in args if n not in rules)
    return problems


class ToolPolicyRail(BaseRail):
    key = "execution.tools"
    stage = Stage.EXECUTION

    def check(self, text: str, ctx: RailContext) -> Decision:
        call = ctx.tool_call
        tools = self.policy.tools
        # No tool call to judge at the execution stage is a caller bug: refuse rather than pass.
        if call is None:
            return self.reject(Reason.TOOL_NOT_ALLOWED)
        # Capability is opt-in: a tool not on the allow-list is denied, whatever the model says.
        if call.name not in tools.allowed:
            return self.reject(Reason.TOOL_NOT_ALLOWED)
        rules = tools.arguments.get(call.name)
        if rules is not None or not tools.allow_unknown_arguments:
            problems = argument_problems(call.arguments, rules or {}, tools.allow_unknown_arguments)
            if problems:
                return self.reject(
                    Reason.INVALID_ARGUMENTS, {"argument_problems": float(len(problems))}
                )
        if call.name in tools.approval_required:
            return self.reject(Reason.APPROVAL_REQUIRED)
        return Allow()
