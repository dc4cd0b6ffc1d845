"""PKCE values (RFC 7636, S256 only) and state values."""

from __future__ import annotations

import uuid

import pytest

from osp.errors import InvalidInput, Unauthorized
from osp.oauth.pkce import make_state, make_verifier, parse_state, s256_challenge, validate_verifier


def test_rfc7636_appendix_b_example() -> None:
    assert s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifiers_are_long_random_and_valid() -> None:
    values = {make_verifier() for _ in range(50)}
    assert len(values) == 50
    assert all(43 <= len(v) <= 128 for v in values)


@pytest.mark.parametrize("verifier", ["a" * 42, "a" * 129, "a" * 50 + "!", "", "a" * 50 + " "])
def test_out_of_spec_verifiers_are_refused(verifier: str) -> None:
    with pytest.raises(InvalidInput):
        validate_verifier(verifier)


@pytest.mark.parametrize("length", [43, 128])
def test_boundary_lengths_are_accepted(length: int) -> None:
    assert validate_verifier("a" * length)


def test_state_carries_tenant_and_only_its_hash_is_kept() -> None:
    tenant = uuid.uuid4()
    state, digest = make_state(tenant)
    assert parse_state(state) == (tenant, digest)
    assert digest not in state
    other, _ = make_state(tenant)
    assert other != state


@pytest.mark.parametrize("state", ["", "ospo_nothex_" + "a" * 43, "ospt_" + "0" * 32 + "_x",
                                   "x" * 300])
def test_malformed_states_are_refused(state: str) -> None:
    with pytest.raises(Unauthorized):
        parse_state(state)
