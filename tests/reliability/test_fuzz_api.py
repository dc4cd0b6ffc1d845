"""Property-based fuzzing of the whole admin API from its own OpenAPI document (schemathesis):
every operation, each role's valid token, bounded examples. The property: no answer >= 500
other than the deliberate, explained 502/503 ("the agent is not running").

Parts: the real app and the real Postgres; the container backend is the in-memory one of
tests/runtime (fuzzed "start tenant" calls must not start containers) and no agent runs (chat
fails fast, as for a stopped agent). Host names the fuzzer invents are never resolved: the
OAuth broker's guarded connector gets a resolver that refuses, so no DNS query leaves the
machine.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpcore
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from osp.app import App
from osp.approvals.models import Approval
from osp.errors import OspError
from osp.identity.models import ApiToken
from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.oauth.egress import guarded_client
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.gateway.fixtures import NoAgent
from tests.runtime.conftest import FAKE_IMAGE, FakeBackend

ROLES = ("owner", "admin", "member")
MAX_EXAMPLES = 4
# 502/503 are the platform's deliberate "not now" answers (agent stopped, provider down,
# webhook key not configured), each with a reason; anything else >= 500 is a crash.
DELIBERATE = (502, 503)


def _no_dns(host: str, port: int) -> list[str]:
    raise httpcore.ConnectError("name resolution is off in this test")


def _tenant_with_tokens(platform: Platform) -> tuple[TenantInfo, dict[str, str]]:
    name = f"fz{uuid.uuid4().hex[:8]}"
    tenant = platform.tenants.create(name, "test")
    tokens: dict[str, str] = {}
    for role in ROLES:
        user = platform.identity.create_user(tenant, f"{role}@fuzz.example",
                                             "correct horse battery staple", role, "test")
        principal = Principal(tenant.id, user, role, "session", scopes=ROLE_SCOPES[role])
        _id, tokens[role] = platform.identity.create_token(
            principal, f"fuzz-{role}", sorted(ROLE_SCOPES[role]), None)
    return tenant, tokens


@pytest.fixture(scope="module")
def fuzz_app(platform: Platform) -> Iterator[tuple[FastAPI, TenantInfo, dict[str, str]]]:
    tenant, tokens = _tenant_with_tokens(platform)
    parts = App(platform, backend=FakeBackend(), images=FAKE_IMAGE, locator=NoAgent())
    app = parts.admin_app(with_jobs=False)
    app.state.test_parts = parts  # the object-id sweep plants objects through its services
    broker = app.state.oauth_broker = OAuthBroker(
        platform.db, platform.vault, platform.audit, http=guarded_client(resolver=_no_dns))
    yield app, tenant, tokens
    broker.close()


def _operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_operation_answers_a_server_error(
        fuzz_app: tuple[FastAPI, TenantInfo, dict[str, str]]) -> None:
    app, tenant, tokens = fuzz_app
    operations = _operations(app)
    assert len(operations) >= 30  # the document lists the whole API
    failures: list[str] = []
    calls = [0]

    for operation in operations:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            if case.path_parameters and "tenant" in case.path_parameters:
                case.path_parameters["tenant"] = tenant.name  # past the tenant check
            for role in ROLES:
                response = case.call(headers={"Authorization": f"Bearer {tokens[role]}"})
                calls[0] += 1
                status = response.status_code
                if status >= 500 and (status not in DELIBERATE or "error" not in response.text):
                    failures.append(f"{case.method} {case.formatted_path} as {role}: "
                                    f"{response.status_code} {response.text[:120]}")

        run()
    print(f"{calls[0]} fuzzed calls over {len(operations)} operations, "
          f"{len(failures)} server errors")
    assert failures == [], "\n".join(sorted(set(failures))[:20])


def test_no_token_of_another_tenant_succeeds_on_any_tenant_route(
        platform: Platform, fuzz_app: tuple[FastAPI, TenantInfo, dict[str, str]]) -> None:
    """The two-tenant sweep, generated from the OpenAPI document: every operation whose path
    names a tenant is called on tenant A with each role's token of tenant B (bodies
    generated valid from the schema, so validation does not answer first). A new route is
    covered without anyone writing a test for it. Property: never a success."""
    app, victim, _tokens = fuzz_app
    _intruder, intruder_tokens = _tenant_with_tokens(platform)
    operations = [op for op in _operations(app) if "{tenant}" in op.path]
    assert len(operations) >= 15
    leaks: list[str] = []
    statuses: dict[int, int] = {}

    for operation in operations:
        @settings(max_examples=2, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.path_parameters["tenant"] = victim.name
            for role in ROLES:
                response = case.call(
                    headers={"Authorization": f"Bearer {intruder_tokens[role]}"})
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code < 400 or response.status_code >= 500:
                    leaks.append(f"{case.method} {case.formatted_path} as the other tenant's "
                                 f"{role}: {response.status_code} {response.text[:120]}")

        run()
    print(f"{len(operations)} tenant operations, answers {dict(sorted(statuses.items()))}")
    assert leaks == [], "\n".join(sorted(set(leaks))[:20])


def _objects_of(platform: Platform, app: FastAPI, tenant: TenantInfo) -> dict[str, str]:
    """One real object of each kind a route takes by id, owned by ``tenant``: a message, a
    paused tool call (approval) and an API token."""
    gateway = app.state.test_parts.agent.gateway
    with contextlib.suppress(OspError):  # no agent runs: the message fails, its row stays
        gateway.send(tenant, "api", "victim", "a message with an id")
    message_id = gateway.recent(tenant, None, 1)[0]["message_id"]
    approval_id = uuid.uuid4()
    with platform.db.tenant(tenant.id) as s:
        gateway.approvals.add(s, tenant, uuid.UUID(message_id), {
            "id": approval_id.hex, "tool": "http_get", "arguments": {"url": "https://a.example"},
            "expires_at": time.time() + 3600})
    user = platform.identity.create_user(tenant, "victim@fuzz.example",
                                         "correct horse battery staple", "owner", "test")
    owner = Principal(tenant.id, user, "owner", "session", scopes=ROLE_SCOPES["owner"])
    token_id, _token = platform.identity.create_token(owner, "victim", ["chat"], None)
    return {"message_id": message_id, "approval_id": str(approval_id),
            "token_id": str(token_id)}


def _object_id_sweep(app: FastAPI, intruder: TenantInfo, intruder_tokens: dict[str, str],
                     objects: dict[str, str]) -> tuple[list[Any], list[str], dict[int, int]]:
    """Every operation with an ``*_id`` in its path, called on the intruder's own tenant path
    with each of the victim's ids in every id slot, with each role's token: (operations,
    leaks, answers by status)."""
    operations = [op for op in _operations(app) if "{tenant}" in op.path and any(
        p.endswith("_id") for p in re.findall(r"{(\w+)}", op.path))]
    leaks: list[str] = []
    statuses: dict[int, int] = {}

    for operation in operations:
        @settings(max_examples=1, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.path_parameters["tenant"] = intruder.name
            slots = [p for p in case.path_parameters if p.endswith("_id")]
            for slot in slots:
                for kind, object_id in objects.items():
                    case.path_parameters[slot] = object_id
                    for role in ROLES:
                        response = case.call(
                            headers={"Authorization": f"Bearer {intruder_tokens[role]}"})
                        code = response.status_code
                        statuses[code] = statuses.get(code, 0) + 1
                        if code < 400 or code >= 500:
                            leaks.append(f"{case.method} {case.formatted_path} ({kind} of the "
                                         f"other tenant) as {role}: {code} "
                                         f"{response.text[:120]}")

        run()
    return operations, leaks, statuses


def test_no_object_id_of_another_tenant_is_reachable_through_ones_own_tenant(
        platform: Platform, fuzz_app: tuple[FastAPI, TenantInfo, dict[str, str]]) -> None:
    """The object-id sweep: tenant B calls every operation that takes an object id on its
    *own* tenant path, with A's message, approval and token ids in every id slot. Generated
    from the OpenAPI document like the sweep above. Property: never a success, never a 5xx,
    and A's objects are unchanged (the approval still pending, the token still listed)."""
    app, victim, _tokens = fuzz_app
    objects = _objects_of(platform, app, victim)
    intruder, intruder_tokens = _tenant_with_tokens(platform)
    operations, leaks, statuses = _object_id_sweep(app, intruder, intruder_tokens, objects)
    assert len(operations) >= 3, [op.path for op in operations]
    print(f"{len(operations)} object-id operations, answers {dict(sorted(statuses.items()))}")
    assert leaks == [], "\n".join(sorted(set(leaks))[:20])
    with platform.db.tenant(victim.id) as s:
        approval = s.get(Approval, uuid.UUID(objects["approval_id"]))
        token = s.get(ApiToken, uuid.UUID(objects["token_id"]))
        assert approval is not None and approval.status == "pending"
        assert token is not None and token.revoked_at is None


def test_the_object_id_sweep_reports_a_route_that_leaks(platform: Platform) -> None:
    """The sweep can fail: a route planted in a test app that answers for any id (a lookup
    that forgot its tenant) is found and reported, without anyone naming it."""
    from fastapi import APIRouter

    parts = App(platform, backend=FakeBackend(), images=FAKE_IMAGE, locator=NoAgent())
    app = parts.admin_app(with_jobs=False)
    app.state.test_parts = parts
    leaky = APIRouter(prefix="/api/v1")

    @leaky.get("/tenants/{tenant}/receipts/{receipt_id}")
    def receipt(tenant: str, receipt_id: str) -> dict[str, str]:
        return {"receipt": receipt_id}  # the defect: no tenant or owner check at all

    app.include_router(leaky)
    victim, _ = _tenant_with_tokens(platform)
    intruder, intruder_tokens = _tenant_with_tokens(platform)
    objects = _objects_of(platform, app, victim)

    _operations_seen, leaks, _statuses = _object_id_sweep(app, intruder, intruder_tokens,
                                                          objects)

    assert leaks and all("/receipts/" in leak for leak in leaks), leaks
    assert {leak.split(" as ")[1].split(":")[0] for leak in leaks} == set(ROLES)
