"""The LLM judge rail's mechanics against a scripted OpenAI-compatible model (the agent's own
provider client, so the request really goes over HTTP): allow, block, malformed answers,
timeout and errors fail closed, verdicts cached per content hash, every decision audited."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from osp.agent.config import parse_config
from osp.agent.judge import ProviderJudge
from osp.agent.loop import default_provider
from osp.governance import MemorySink, Pipeline, Policy
from osp.governance.interfaces import RailDeps
from osp.governance.rails.output.judge import Verdict, VerdictCache, parse_verdict
from tests.agent.scripted import ScriptedModel, say
from tests.governance.conftest import _STORE, build

ALLOW = '{"verdict": "allow", "reasons": []}'
BLOCK = '{"verdict": "block", "reasons": ["harmful_content"]}'


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    m = ScriptedModel()
    server = m.start()
    yield m
    if m.hold is not None:
        m.hold.set()
    server.shutdown()


def judged(model: ScriptedModel, sink: MemorySink, timeout_ms: float = 5_000) -> Pipeline:
    config = parse_config({"model": {"provider": "openai", "model": "judge-test",
                                     "base_url": f"http://127.0.0.1:{model.port}/v1"}})
    judge = ProviderJudge(config, {"MODEL_API_KEY": "sk-test"}, default_provider)
    policy = Policy.model_validate({"stages": {"output": [
        {"key": "output.judge", "timeout_ms": timeout_ms}]}})
    return build(policy, sink, deps=RailDeps(models=_STORE, judge=judge))


def test_full_preset_judges_replies_and_fails_closed() -> None:
    full = Policy.preset_policy("full")
    judge = [r for r in full.stages.output if r.key == "output.judge"]
    assert judge and not judge[0].advisory


def test_allowed_reply_passes_and_the_judge_sees_both_texts_as_data(
        model: ScriptedModel, sink: MemorySink) -> None:
    model.reset(say(ALLOW))
    result = judged(model, sink).check("output", "Paris.", prompt="Capital of France?")
    assert result.action == "allow"
    sent = model.seen[0].body["messages"]
    assert "exactly one JSON object" in sent[0]["content"]
    assert "Capital of France?" in sent[-1]["content"] and "Paris." in sent[-1]["content"]
    assert model.seen[0].headers["authorization"] == "Bearer sk-test"
    (record,) = [r for r in sink.records if r.rail == "output.judge"]
    assert record.action == "allow" and record.scores["judge.block"] == 0.0


def test_blocked_reply_is_refused_with_typed_reasons(model: ScriptedModel,
                                                     sink: MemorySink) -> None:
    model.reset(say('{"verdict": "block", "reasons": ["harmful_content", "other"]}'))
    result = judged(model, sink).check("output", "Step 1: obtain ...", prompt="How do I ...")
    assert result.action == "reject" and result.reason == "judge_blocked"
    assert result.text == Policy().refusals.default  # the reply itself never leaves
    (record,) = [r for r in sink.records if r.rail == "output.judge"]
    assert record.reason == "judge_blocked"
    assert record.scores["judge.reason.harmful_content"] == 1.0
    assert record.scores["judge.reason.other"] == 1.0


@pytest.mark.parametrize("answer", [
    "Sure, this reply looks fine.",
    "```json\n" + ALLOW + "\n```",
    '{"verdict": "maybe", "reasons": []}',
    '{"verdict": "allow"}',
    '{"verdict": "allow", "reasons": [], "note": "ok"}',
    '{"verdict": "block", "reasons": []}',
    '{"verdict": "block", "reasons": ["because I said so"]}',
    '["allow"]',
    "",
])
def test_malformed_answer_blocks(model: ScriptedModel, sink: MemorySink, answer: str) -> None:
    model.reset(say(answer))
    result = judged(model, sink).check("output", "A reply.", prompt="A question?")
    assert result.action == "reject" and result.reason == "judge_malformed"
    assert [r.reason for r in sink.records if r.rail == "output.judge"] == ["judge_malformed"]


def test_timeout_blocks_in_time(model: ScriptedModel, sink: MemorySink) -> None:
    model.reset(say(ALLOW))
    model.hold = threading.Event()  # the model never answers
    started = time.monotonic()
    result = judged(model, sink, timeout_ms=1_000).check("output", "A reply.", prompt="Q?")
    assert result.action == "reject" and result.reason == "judge_unavailable"
    assert time.monotonic() - started < 5  # cut off near the rail's deadline, not 60 s
    assert [r.reason for r in sink.records if r.rail == "output.judge"] == ["judge_unavailable"]


def test_model_error_blocks_and_is_not_cached(model: ScriptedModel, sink: MemorySink) -> None:
    model.reset(say(ALLOW))
    model.status.append(500)
    pipe = judged(model, sink)
    first = pipe.check("output", "A reply.", prompt="Q?")
    assert first.action == "reject" and first.reason == "judge_unavailable"
    # The error was not remembered: the same reply is judged again, and passes now.
    assert pipe.check("output", "A reply.", prompt="Q?").action == "allow"
    assert len(model.seen) == 2


def test_no_model_configured_blocks(sink: MemorySink) -> None:
    policy = Policy.model_validate({"stages": {"output": [{"key": "output.judge"}]}})
    result = build(policy, sink, deps=RailDeps(models=_STORE)).check("output", "A reply.")
    assert result.action == "reject" and result.reason == "judge_unavailable"


def test_verdicts_are_cached_per_content_hash(model: ScriptedModel, sink: MemorySink) -> None:
    model.reset(say(ALLOW), say(BLOCK))
    pipe = judged(model, sink)
    assert pipe.check("output", "Hello!", prompt="Hi").action == "allow"
    assert pipe.check("output", "Hello!", prompt="Hi").action == "allow"  # cache hit
    assert len(model.seen) == 1
    # Same reply to another message is another content: judged again.
    assert pipe.check("output", "Hello!", prompt="Say hello").reason == "judge_blocked"
    assert len(model.seen) == 2
    cached = [r.scores["judge.cached"] for r in sink.records if r.rail == "output.judge"]
    assert cached == [0.0, 1.0, 0.0]


def test_the_cache_is_bounded() -> None:
    cache = VerdictCache(size=2)
    ok = Verdict("allow", ())
    for key in ("a", "b", "c"):
        cache.put(key, ok)
    assert len(cache) == 2 and cache.get("a") is None and cache.get("c") == ok


def test_parse_verdict_keeps_known_codes_once() -> None:
    verdict = parse_verdict(json.dumps({"verdict": "block",
                                        "reasons": ["private_data", "private_data"]}))
    assert verdict == Verdict("block", ("private_data",))
