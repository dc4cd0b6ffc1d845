"""Execution rail: tool allow-list, approval gating and argument validation.

The checked content of this stage is the tool call in ``ctx.tool_call``; ``text`` is its
serialised form (for hashing into the audit trail).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from osp.checks.arguments import argument_problems as shared_argument_problems
from osp.governance.decisions import Allow, Decision, Reason, Stage
from osp.governance.interfaces import RailContext
from osp.governance.policy import ArgConstraint
from osp.governance.rails.base import BaseRail


def argument_problems(
    args: Mapping[str, Any], rules: Mapping[str, ArgConstraint], allow_unknown: bool
) -> list[str]:
    # The one validator the agent and the connected-app executor use too (same rule, same
    # verdict on every path; ``pattern`` matches the whole value).
    return shared_argument_problems(
        args, {n: r.model_dump(exclude_none=True) for n, r in rules.items()}, allow_unknown
    )


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
