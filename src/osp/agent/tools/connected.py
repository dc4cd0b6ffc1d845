"""Connected-app tools in the agent: the data-defined tools of ``osp.oauth.tools.json``.

A call runs only after the execution rails allowed it (the tenant's policy lists the tool,
its arguments pass the policy's rules, an approval tool got a person's yes). The handler
then:

* for a call a person approved, asks the control plane to run it: the control plane checks
  the approval (this tool, these arguments, once), picks the connection and calls the
  provider itself, so the token of an approval-only scope (mail sending) never reaches
  the agent;
* otherwise finds the tenant's active connection that granted the tool's scope, asks the
  control plane for an access token for that one scope (it refuses scopes the policy does
  not let the agent use unapproved) and calls the provider. The executor checks the
  arguments again, so a rail that was bypassed still fails closed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from osp.agent.internal import InternalApi
from osp.agent.tools.registry import Tool, ToolContext, ToolError
from osp.checks.arguments import rules_as_schema
from osp.errors import OspError
from osp.oauth.tools import ToolExecutor, ToolSpec, load_tools, pick_connection


def json_schema(spec: ToolSpec) -> dict[str, Any]:
    """The tool's argument rules as the JSON Schema the model is shown (and the registry
    validates): no argument outside the rules, required ones required."""
    return rules_as_schema(spec.arguments)


def connected_tools(api: InternalApi, api_base: Mapping[str, str],
                    resolve: Callable[[str], str] = str) -> list[Tool]:
    """One Tool per connected-app tool. ``api_base`` maps a provider API origin to a
    stand-in; ``resolve`` turns the ``osp-host`` alias into the host's address."""
    executor = ToolExecutor(api, {origin: resolve(url) for origin, url in api_base.items()})

    def make(spec: ToolSpec) -> Tool:
        def run(args: Mapping[str, Any], ctx: ToolContext) -> str:
            if ctx.approval_id is not None:
                # The control plane picks the connection and runs the call itself.
                data = api.run(spec.name, ctx.approval_id, dict(args))
                return json.dumps(data, ensure_ascii=False)
            try:
                connection = pick_connection(spec, api.connections())
                result = executor.execute(spec.name, connection, dict(args))
            except OspError as exc:
                raise ToolError(exc.message) from None
            return json.dumps(result.data, ensure_ascii=False)

        return Tool(spec.name, f"{spec.title} ({spec.provider}, connected app).",
                    json_schema(spec), run)

    return [make(spec) for spec in load_tools().values()]
