"""Connected-app tools as the agent offers them: schemas, and where their calls may go."""

from __future__ import annotations

import pytest

from osp.agent.config import ConfigError, parse_config
from osp.agent.internal import InternalApi
from osp.agent.tools.connected import connected_tools
from osp.agent.tools.registry import ToolRegistry
from osp.oauth.tools import load_tools


def api_base(mapping: dict[str, str]) -> dict[str, object]:
    return {"tools": {"connected": {"api_base": mapping}}}


def test_a_stand_in_may_only_be_on_the_host() -> None:
    ok = parse_config(api_base({"https://www.googleapis.com": "http://osp-host:8089/fake"}))
    assert ok.tools.connected.api_base["https://www.googleapis.com"].startswith("http://osp-host")
    # The call carries the person's access token: an administrator cannot send it elsewhere.
    for target in ("https://attacker.example/x", "http://10.0.0.5:80/", "http://osp-host.evil/"):
        with pytest.raises(ConfigError, match="osp-host"):
            parse_config(api_base({"https://www.googleapis.com": target}))
    with pytest.raises(ConfigError, match="not the API origin"):
        parse_config(api_base({"https://attacker.example": "http://osp-host/"}))


def test_every_tool_is_offered_with_a_closed_schema_the_registry_accepts() -> None:
    registry = ToolRegistry()
    api = InternalApi("http://127.0.0.1:9", "t", "i", "k")
    for tool in connected_tools(api, {}):
        registry.register(tool)
    assert set(registry.names()) == set(load_tools())
    send = registry.get("google_gmail_send")
    assert send is not None
    assert send.parameters["additionalProperties"] is False
    assert set(send.parameters["required"]) == {"to", "subject", "text"}
    problems = registry.validate("google_gmail_send", {"to": "bob@example.com", "subject": "hi",
                                                       "text": "x", "bcc": "eve@example.com"})
    assert problems == ["bcc: not an allowed argument"]
