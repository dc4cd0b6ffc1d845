"""The shared scorer's internal route, driven by the agent's own client over real HTTP: scores
for known heads, reasons for bad input, a per-tenant bound, and 503 (fail closed in the agent)
when the scorer cannot load. Who the caller is comes from the agent authenticator, tested with
real containers in tests/runtime and tests/agent; here it names one tenant."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import Request
from fastapi.testclient import TestClient

from osp.agent.internal import InternalApi
from osp.agent.scoring import RemoteScorer
from osp.gateway.rails import GatewayRails
from osp.gateway.scoring import build_scoring_router
from osp.governance.detectors.encoder import EncoderError, EncoderStore
from osp.platform import Platform
from tests.apps import admin_app
from tests.gateway.test_rails import INJECTION, SHARED
from tests.slots import free_port

TENANT = uuid.uuid4()


def _as_tenant(request: Request) -> uuid.UUID:
    return TENANT


@pytest.fixture
def served(platform: Platform) -> Iterator[str]:
    app = admin_app(platform, build_scoring_router(SHARED, _as_tenant))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


def test_the_agent_scores_through_the_shared_scorer(served: str) -> None:
    scorer = RemoteScorer(InternalApi(served, "t", "i", "key")).get()
    attack = scorer.scores(INJECTION, ("injection", "harmful"))
    plain = scorer.scores("What are your opening hours?", ("injection",))
    assert attack["injection"] >= 0.9 > plain["injection"]
    assert set(attack) == {"injection", "harmful"}


def test_the_shared_scorer_reads_the_instructions_it_is_given(platform: Platform,
                                                               tmp_path: Path) -> None:
    from tests.governance.rails.test_instructions import FIXED, SWITCH, reading_copy

    rails = GatewayRails(EncoderStore(reading_copy(tmp_path)))
    local = rails.encoders.get()
    with TestClient(admin_app(platform, build_scoring_router(rails, _as_tenant))) as client:
        for context in (None, FIXED):
            body = {"text": SWITCH, "heads": ["injection"],
                    **({"context": context} if context else {})}
            r = client.post("/internal/v1/governance/score", json=body)
            assert r.status_code == 200, r.text
            want = local.scores(SWITCH, ("injection",), context)["injection"]
            assert r.json()["scores"]["injection"] == pytest.approx(want)
        too_long = client.post("/internal/v1/governance/score", json={
            "text": SWITCH, "heads": ["injection"], "context": "x" * 20_001})
        assert too_long.status_code == 422


def test_an_unknown_head_is_refused_with_a_reason(served: str) -> None:
    with pytest.raises(EncoderError, match="unknown head"):
        RemoteScorer(InternalApi(served, "t", "i", "key")).scores("x", ("everything",))


def test_a_broken_scorer_answers_503_with_the_reason(platform: Platform,
                                                     tmp_path: Path) -> None:
    rails = GatewayRails(EncoderStore(tmp_path))
    with TestClient(admin_app(platform, build_scoring_router(rails, _as_tenant))) as client:
        r = client.post("/internal/v1/governance/score", json={"text": "x",
                                                               "heads": ["document"]})
    assert r.status_code == 503 and "model_unavailable" in r.text


def test_one_tenant_gets_a_bounded_number_of_scorings(platform: Platform) -> None:
    router = build_scoring_router(SHARED, _as_tenant, per_tenant=0)
    with TestClient(admin_app(platform, router)) as client:
        r = client.post("/internal/v1/governance/score", json={"text": "x",
                                                               "heads": ["document"]})
    assert r.status_code == 429
