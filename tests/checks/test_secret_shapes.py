"""One secret-shape catalogue: every shape the governance detector knows is also masked in a
log line and in an audit detail (the scrubber and the detector used to drift apart)."""

from __future__ import annotations

import io
import json
import re
import secrets
import string
from collections.abc import Callable

import pytest

from osp.checks.secret_shapes import (
    ASSIGNMENT,
    SHAPE_KINDS,
    TOKEN_SHAPES,
    URL_CREDENTIALS,
    find_secrets,
)
from osp.governance.detectors.secrets import find_secrets as detector_find_secrets
from osp.logs import configure_logging, get_logger
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests import fakes

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _example(kind: str) -> tuple[str, str]:
    """(text containing a fresh fake credential of this shape, the part that must vanish)."""
    upper = string.ascii_uppercase + string.digits
    if kind == "private_key":
        block = fakes.private_key_block()
        return block, block.splitlines()[1]
    if kind == "url_credentials":
        pw = fakes.db_password()
        return f"postgres://admin:{pw}@db.internal:5432/app", pw
    if kind == "assignment":
        pw = fakes.db_password()
        return f"password = {pw}", pw
    if kind == "bearer_token":
        tok = _rand(32)
        return f"Authorization: Bearer {tok}", tok
    value = {
        "aws_access_key": lambda: fakes.aws_access_key(),
        "github_token": lambda: fakes.github_token(),
        "gitlab_token": lambda: "glpat-" + _rand(20),
        "slack_token": lambda: "xoxe-" + _rand(24),
        "slack_webhook": lambda: "https://hooks.slack.com/services/T" + _rand(8, upper)
        + "/B" + _rand(8, upper) + "/" + _rand(24),
        "stripe_key": lambda: "rk_live_" + _rand(24),
        "google_api_key": lambda: "AIza" + _rand(35),
        "anthropic_key": lambda: "sk-ant-api03-" + _rand(40),
        "openai_key": lambda: fakes.openai_key(),
        "huggingface_token": lambda: "hf_" + _rand(34),
        "npm_token": lambda: "npm_" + _rand(36),
        "sendgrid_key": lambda: "SG." + _rand(22) + "." + _rand(43),
        "twilio_key": lambda: "SK" + secrets.token_hex(16),
        "jwt": lambda: fakes.jwt(),
        "osp_token": lambda: f"ospa_{secrets.token_hex(16)}_{_rand(43)}",
    }[kind]()
    return f"the credential is {value} (do not share)", value


def test_every_detector_shape_has_an_example_the_detector_finds() -> None:
    # Guards the test itself: a shape added to the catalogue without an example fails here.
    assert len(SHAPE_KINDS) >= 18
    for kind in SHAPE_KINDS:
        text, _secret = _example(kind)
        found = {k for _s, _e, k in detector_find_secrets(text)}
        assert kind in found, (kind, found)
        assert {k for _s, _e, k in find_secrets(text)} == found


@pytest.mark.parametrize("kind", SHAPE_KINDS)
def test_every_shape_is_masked_in_a_log_line(kind: str) -> None:
    text, secret = _example(kind)
    out = io.StringIO()
    configure_logging("info", stream=out)
    try:
        get_logger("test").info("call.failed", detail=text, nested={"items": [text]})
        get_logger("test").info(text)
    finally:
        configure_logging("info")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)
    assert secret not in out.getvalue(), kind
    assert "[REDACTED]" in out.getvalue()


def test_every_shape_is_masked_in_an_audit_detail(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    examples = {kind: _example(kind) for kind in SHAPE_KINDS}
    with platform.db.tenant(t.id) as s:
        for kind, (text, _secret) in examples.items():
            platform.audit.record(s, t.id, "test", "shape.checked", {"kind": kind, "note": text})
    with platform.db.tenant(t.id) as s:
        stored = {ev.details["kind"]: json.dumps(ev.details)
                  for ev in platform.audit.list(s, t.id, limit=100)
                  if ev.kind == "shape.checked"}
        assert platform.audit.verify(s, t.id).ok
    assert set(stored) == set(SHAPE_KINDS)
    leaked = [kind for kind, (_text, secret) in examples.items() if secret in stored[kind]]
    assert leaked == []


def _full_scan(text: str) -> set[tuple[int, int, str]]:
    """The catalogue without the needle pre-check: what find_secrets must agree with."""
    full = re.compile("|".join(f"(?P<{k}>{p})" for k, p in TOKEN_SHAPES))
    spans = {(m.start(), m.end(), m.lastgroup or "") for m in full.finditer(text)}
    spans |= {(m.start(1), m.end(1), "url_credentials")
              for m in re.finditer(URL_CREDENTIALS, text)}
    spans |= {(m.start(1), m.end(1), "assignment") for m in re.finditer(ASSIGNMENT, text)
              if not m.group(1).startswith("<") and m.group(1).lower() not in
              {"none", "null", "password", "secret"}}
    return spans


def test_the_needle_pre_check_never_hides_a_shape() -> None:
    texts = [_example(kind)[0] for kind in SHAPE_KINDS]
    texts += [" ".join(texts), "sk-ant-" + "a" * 12 + " and Bearer " + "b" * 20,
              "PA\u017fSWORD = hunter22", "x ASIA" + "A" * 16 + " AIza" + "c" * 35]
    for text in texts:
        assert set(find_secrets(text)) == _full_scan(text), text
