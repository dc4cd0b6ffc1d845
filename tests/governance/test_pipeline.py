"""The engine itself, with tiny rails (pluggy's test_multicall style)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from osp.governance import (
    Allow,
    Alter,
    Change,
    MemorySink,
    Pipeline,
    PipelineConfigError,
    Policy,
    RailRegistry,
    RegistryError,
    Reject,
    Stage,
)
from osp.governance.decisions import AuditRecord, Decision
from osp.governance.interfaces import RailContext, RailDeps
from osp.governance.policy import RailSettings

CALLS: list[str] = []


class _Base:
    key: ClassVar[str]
    stage: ClassVar[Stage] = Stage.INPUT

    def __init__(self, settings: RailSettings, policy: Policy, deps: RailDeps) -> None:
        self.settings = settings

    def check(self, text: str, ctx: RailContext) -> Decision:
        CALLS.append(self.key)
        return Allow({self.key: 0.0})


class A(_Base):
    key = "input.a"


class B(_Base):
    key = "input.b"


class Upper(_Base):
    key = "input.upper"

    def check(self, text: str, ctx: RailContext) -> Decision:
        CALLS.append(self.key)
        return Alter(text.upper(), (Change("upper", 0, len(text)),))


class MaskDigits(_Base):
    key = "input.mask"

    def check(self, text: str, ctx: RailContext) -> Decision:
        CALLS.append(self.key)
        return Alter("".join("#" if c.isdigit() else c for c in text), (Change("digits", 0, 0),))


class NoDigitsAllowed(_Base):
    key = "input.nodigits"

    def check(self, text: str, ctx: RailContext) -> Decision:
        CALLS.append(self.key)
        if any(c.isdigit() for c in text):
            return Reject("digits")
        return Allow()


class Boom(_Base):
    key = "input.boom"

    def check(self, text: str, ctx: RailContext) -> Decision:
        raise RuntimeError("detector crashed")


class Slow(_Base):
    key = "input.slow"
    release = threading.Event()

    def check(self, text: str, ctx: RailContext) -> Decision:
        self.release.wait(5)
        return Allow()


class Sluggish(_Base):
    key = "input.sluggish"

    def check(self, text: str, ctx: RailContext) -> Decision:
        time.sleep(0.12)
        return Allow()


class ReturnsBool(_Base):
    key = "input.bool"

    def check(self, text: str, ctx: RailContext) -> Decision:
        return True  # type: ignore[return-value]


RAILS = (A, B, Upper, MaskDigits, NoDigitsAllowed, Boom, Slow, Sluggish, ReturnsBool)


def make(input_rails: list[dict[str, object]], sink: MemorySink | None = None) -> Pipeline:
    registry = RailRegistry()
    for r in RAILS:
        registry.register(r)
    policy = Policy.model_validate({"stages": {"input": input_rails}})
    return Pipeline(policy, registry, sink or MemorySink())


@pytest.fixture(autouse=True)
def _clear() -> None:
    CALLS.clear()


def test_rails_run_in_policy_order() -> None:
    make([{"key": "input.b"}, {"key": "input.a"}]).check("input", "x")
    assert CALLS == ["input.b", "input.a"]
    CALLS.clear()
    make([{"key": "input.a"}, {"key": "input.b"}]).check("input", "x")
    assert CALLS == ["input.a", "input.b"]


def test_first_reject_stops_the_stage() -> None:
    result = make([{"key": "input.nodigits"}, {"key": "input.a"}]).check("input", "call 911")
    assert result.action == "reject" and result.reason == "digits"
    assert CALLS == ["input.nodigits"]
    assert result.text != "call 911"  # the refusal, never the rejected content


def test_registry_is_frozen_after_startup() -> None:
    registry = RailRegistry()
    registry.register(A)
    Pipeline(
        Policy.model_validate({"stages": {"input": [{"key": "input.a"}]}}), registry, MemorySink()
    )
    assert registry.frozen
    with pytest.raises(RegistryError, match="frozen"):
        registry.register(B)


def test_pipeline_rail_list_is_immutable() -> None:
    pipe = make([{"key": "input.a"}])
    assert pipe.rails(Stage.INPUT) == ("input.a",)
    with pytest.raises(TypeError):
        pipe._stages[Stage.INPUT] = ()  # type: ignore[index]


def test_duplicate_key_rejected_at_registration() -> None:
    registry = RailRegistry()
    registry.register(A)
    with pytest.raises(RegistryError, match="already registered"):
        registry.register(A)


def test_registration_checks_the_interface() -> None:
    class NoCheck:
        key = "input.nocheck"
        stage = Stage.INPUT

    class WrongStage(_Base):
        key = "output.x"

    class BadArity(_Base):
        key = "input.arity"

        def check(self, text: str) -> Decision:  # type: ignore[override]
            return Allow()

    registry = RailRegistry()
    with pytest.raises(RegistryError, match="callable `check`"):
        registry.register(NoCheck)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="must start with its stage"):
        registry.register(WrongStage)
    with pytest.raises(RegistryError, match=r"\(text, ctx\)"):
        registry.register(BadArity)


def test_unknown_rail_in_policy_is_a_clear_config_error() -> None:
    with pytest.raises(PipelineConfigError, match=r"unknown rail 'input\.nope'"):
        make([{"key": "input.nope"}])


def test_raising_rail_fails_closed() -> None:
    result = make([{"key": "input.boom"}, {"key": "input.a"}]).check("input", "hello")
    assert result.action == "reject" and result.reason == "rail_error"
    assert result.rail == "input.boom"
    assert CALLS == []


def test_non_decision_return_fails_closed() -> None:
    result = make([{"key": "input.bool"}]).check("input", "hello")
    assert result.reason == "rail_error"


def test_slow_rail_times_out_and_fails_closed() -> None:
    Slow.release.clear()
    pipe = make([{"key": "input.slow", "timeout_ms": 50}])
    t0 = time.perf_counter()
    result = pipe.check("input", "hello")
    assert time.perf_counter() - t0 < 2
    assert result.action == "reject" and result.reason == "rail_error"
    Slow.release.set()
    pipe.close()


def test_rail_over_its_own_timeout_fails_even_when_it_returns() -> None:
    # The stage deadline (sum of timeouts) is long enough for it to return; its own is not.
    pipe = make(
        [{"key": "input.sluggish", "timeout_ms": 50}, {"key": "input.a", "timeout_ms": 5000}]
    )
    result = pipe.check("input", "hello")
    assert result.action == "reject" and result.reason == "rail_error"
    assert result.rail == "input.sluggish"
    assert CALLS == []


def test_hung_advisory_rail_fails_open_and_later_rails_still_run() -> None:
    sink = MemorySink()
    Slow.release.clear()
    pipe = make(
        [
            {"key": "input.upper"},
            {"key": "input.slow", "advisory": True, "timeout_ms": 50},
            {"key": "input.a"},
        ],
        sink,
    )
    result = pipe.check("input", "hi")
    Slow.release.set()
    assert result.action == "alter" and result.text == "HI"
    assert CALLS == ["input.upper", "input.a"]
    assert [(r.rail, r.failed_open) for r in sink.records] == [
        ("input.upper", False),
        ("input.slow", True),
        ("input.a", False),
    ]
    pipe.close()


def test_advisory_rail_may_fail_open_and_it_is_recorded() -> None:
    sink = MemorySink()
    result = make([{"key": "input.boom", "advisory": True}, {"key": "input.a"}], sink).check(
        "input", "hi"
    )
    assert result.action == "allow"
    assert CALLS == ["input.a"]
    assert sink.records[0].failed_open and sink.records[0].advisory


def test_empty_stage_fails_closed(sink: MemorySink) -> None:
    result = make([], sink).check("input", "hello")
    assert result.action == "reject" and result.reason == "no_rails"
    assert [r.reason for r in sink.records] == ["no_rails"]


def test_alter_chain_masks_then_checks() -> None:
    """The checking rail sees the masked text, so the digits no longer trip it."""
    result = make([{"key": "input.mask"}, {"key": "input.nodigits"}, {"key": "input.upper"}]).check(
        "input", "pin 1234"
    )
    assert result.action == "alter"
    assert result.text == "PIN ####"
    assert result.rail == "input.upper"
    assert CALLS == ["input.mask", "input.nodigits", "input.upper"]


def test_every_decision_is_audited_without_raw_content() -> None:
    sink = MemorySink()
    pipe = make([{"key": "input.a"}, {"key": "input.mask"}, {"key": "input.nodigits"}], sink)
    secret = "my pin is 4321"
    pipe.check("input", secret, request_id="r1")
    pipe.check("input", "no numbers", request_id="r2")
    assert [(r.request_id, r.rail, r.action) for r in sink.records] == [
        ("r1", "input.a", "allow"),
        ("r1", "input.mask", "alter"),
        ("r1", "input.nodigits", "allow"),
        ("r2", "input.a", "allow"),
        ("r2", "input.mask", "alter"),
        ("r2", "input.nodigits", "allow"),
    ]
    for record in sink.records:
        assert isinstance(record, AuditRecord)
        assert record.stage is Stage.INPUT and record.latency_ms >= 0
        flat = repr(record)
        assert "4321" not in flat and "pin" not in flat
    altered = sink.records[1]
    assert altered.result_hash and altered.result_hash != altered.content_hash


def test_audit_hashes_are_keyed() -> None:
    s1, s2 = MemorySink(), MemorySink()
    make([{"key": "input.a"}], s1).check("input", "123-45-6789")
    make([{"key": "input.a"}], s2).check("input", "123-45-6789")
    assert s1.records[0].content_hash != s2.records[0].content_hash


def test_failing_audit_sink_rejects() -> None:
    class BrokenSink:
        def emit(self, record: AuditRecord) -> None:
            raise OSError("disk full")

    registry = RailRegistry()
    registry.register(A)
    policy = Policy.model_validate({"stages": {"input": [{"key": "input.a"}]}})
    result = Pipeline(policy, registry, BrokenSink()).check("input", "hello")
    assert result.action == "reject" and result.reason == "audit_error"


def test_no_per_request_skip() -> None:
    import inspect

    # Facts about the request only (the tenant's instructions among them); nothing that could
    # switch a rail off for one request.
    params = set(inspect.signature(Pipeline.check).parameters)
    assert params == {"self", "stage", "text", "request_id", "prompt", "tool_call",
                      "instructions"}


def test_a_hung_rail_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    script = tmp_path / "hang.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading
            from osp.governance import Allow, MemorySink, Pipeline, Policy, RailRegistry, Stage

            class Hang:
                key = "input.hang"
                stage = Stage.INPUT
                def __init__(self, settings, policy, deps):
                    pass
                def check(self, text, ctx):
                    threading.Event().wait()  # never returns
                    return Allow()

            registry = RailRegistry()
            registry.register(Hang)
            rails = [{"key": "input.hang", "timeout_ms": 50}]
            policy = Policy.model_validate({"stages": {"input": rails}})
            result = Pipeline(policy, registry, MemorySink()).check("input", "hi")
            print(result.action, result.reason)
            """
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["reject", "rail_error"]
