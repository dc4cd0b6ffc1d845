"""The demo on the local model, as `osp up --demo --local-model` wires it: the real llama.cpp
server with the real SmolLM2 model on this host, the demo tenant's agent in its own container,
a chat message through the API, the gateway and the rails, and no hosted API anywhere."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import pytest

from osp.errors import Misconfigured
from osp.gateway.demo import DEMO_TENANT, create_demo
from osp.localmodel.server import ServerOptions, bundled_model, running
from osp.runtime.interfaces import State
from tests.agent.conftest import Stack
from tests.prereqs import unavailable
from tests.slots import free_port

pytestmark = pytest.mark.podman


def test_the_local_model_demo_answers_a_chat_message_through_the_rails(
        stack: Stack, tmp_path: Path) -> None:
    try:
        bundled_model()
    except Misconfigured as exc:
        unavailable(exc.message)
    p = stack.platform
    with running(ServerOptions(tmp_path, free_port())) as server:
        try:
            printed = create_demo(p, stack.runtime, server.model)
            assert "no API key to set" in printed and "set-model" not in printed
            token = re.search(r"OSP_TOKEN=(\S+)", printed)
            assert token is not None
            tenant = p.tenants.get(DEMO_TENANT)
            deadline = time.monotonic() + 60  # create_demo starts the agent without waiting
            while stack.backend.status(DEMO_TENANT).state != State.RUNNING:
                assert time.monotonic() < deadline, "the demo agent did not start"
                time.sleep(0.2)

            r = stack.chat(tenant, token.group(1), "Hello! What is the capital of France?")

            assert r.status_code == 200, r.text
            body = r.json()
            assert body["status"] == "answered", body
            assert body["reply"].strip()
            # The turn went through the rails on the way in and out, and reached the model.
            rails = {d["rail"] for d in stack.decisions(tenant)}
            assert any(rail.startswith("input.") for rail in rails), rails
            assert any(rail.startswith("output.") for rail in rails), rails
            assert "/v1/chat/completions" in server.log.read_text(errors="replace")
        finally:
            with contextlib.suppress(Exception):
                stack.backend.remove(DEMO_TENANT, purge_data=True)
            with contextlib.suppress(Exception):
                p.tenants.delete(p.tenants.get(DEMO_TENANT), "test")
