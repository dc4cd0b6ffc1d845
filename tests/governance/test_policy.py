from __future__ import annotations

import json
from pathlib import Path

import pytest

from osp.governance.policy import (
    SCHEMA_PATH,
    Policy,
    PolicyError,
    load_policy,
    parse_policy,
    render_schema,
)


def test_committed_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "regenerate with: python -m osp.governance.policy"
    )


def test_presets() -> None:
    lean = Policy.preset_policy("lean")
    full = Policy.preset_policy("full")
    assert lean.stages.input[0].key == "input.unicode"
    assert "output.judge" not in [r.key for r in lean.stages.output]
    judge = [r for r in full.stages.output if r.key == "output.judge"]
    # The judge fails closed: a reply it could not judge is blocked, not passed.
    assert judge and not judge[0].advisory
    assert Policy.model_validate({}) == lean


def test_explicit_stages_replace_the_preset() -> None:
    p = parse_policy({"preset": "full", "stages": {"input": [{"key": "input.length"}]}})
    assert [r.key for r in p.stages.input] == ["input.length"]
    assert p.stages.output == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"preset": "strict"}, "preset: Input should be 'lean' or 'full'"),
        ({"topics": {"blocked": ["astrology"]}}, "unknown topic(s) ['astrology']"),
        ({"topics": {"allowed": ["finance"], "blocked": ["finance"]}}, "both allowed and blocked"),
        ({"pii": {"output": {"US_SSN": "shred"}}}, "pii.output.US_SSN: Input should be"),
        ({"pii": {"input": {"PASSPORT": "mask"}}}, "pii.input.PASSPORT"),
        ({"tools": {"allowed": ["a"], "approval_required": ["b"]}}, "not in allowed: ['b']"),
        (
            {"tools": {"allowed": ["a"], "arguments": {"a": {"x": {"pattern": "("}}}}},
            "does not compile",
        ),
        (
            {"thresholds": {"injection": 1.5}},
            "thresholds.injection: Input should be less than or equal to 1",
        ),
        ({"stages": {"input": [{"key": "input.a"}, {"key": "input.a"}]}}, "more than once"),
        ({"stages": {"input": [{"key": "output.pii"}]}}, "is listed under stage 'input'"),
        ({"stages": {"input": [{"key": "input.a", "timeout_ms": 0}]}}, "timeout_ms"),
        ({"unknown_field": 1}, "unknown_field: Extra inputs are not permitted"),
        (
            {"moderation": {"allowed_categories": ["sexual_minors"]}},
            "categories that can never be allowed: ['sexual_minors']",
        ),
        ({"moderation": {"allowed_categories": ["astrology"]}}, "moderation.allowed_categories"),
        (
            {"moderation": {"category_thresholds": {"weapons": 2}}},
            "moderation.category_thresholds.weapons: Input should be less than or equal to 1",
        ),
        ({"moderation": {"category_thresholds": {"knitting": 0.5}}}, "category_thresholds"),
    ],
)
def test_validation_errors_name_the_field(data: dict[str, object], expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    assert expected in str(info.value)
    assert "Traceback" not in str(info.value)


def test_load_policy_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy"):
        load_policy(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid JSON"):
        load_policy(bad)
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps({"version": "7", "topics": {"blocked": ["politics"]}}), encoding="utf-8"
    )
    assert load_policy(good).version == "7"


def test_policy_is_immutable() -> None:
    p = Policy.preset_policy()
    with pytest.raises(Exception, match="frozen"):
        p.version = "2"  # type: ignore[misc]


def test_moderation_policy_defaults_change_nothing() -> None:
    policy = parse_policy({})
    assert policy.moderation.allowed_categories == []
    assert policy.moderation.category_thresholds == {}
    allowed = parse_policy({"moderation": {"allowed_categories": ["cybercrime"]}})
    assert allowed.moderation.allowed_categories == ["cybercrime"]
