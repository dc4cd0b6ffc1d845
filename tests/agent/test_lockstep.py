"""Governance lockstep and the brand overlay, with the tenant's agent in its own container.

Lockstep: a policy is data whose meaning depends on the schema the agent's governance reads.
The control plane sends no policy to an agent whose image reads another schema, and the
agent serves no policy stamped for another schema than its own: both fail closed, with a
reason in the tenant's trail. Brand: what the overlay wrote to ``brand.json`` is what the
agent answers as.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from osp.governance.schema import SCHEMA_FILE, schema_hash
from osp.release.build import BuiltImage
from osp.tenancy.service import TenantInfo
from tests.agent.conftest import Stack
from tests.agent.scripted import say
from tests.images import SITE, derived_image, remove_image

pytestmark = pytest.mark.podman

LiveTenant = Callable[..., TenantInfo]
OTHER_SCHEMA = "sha256:" + "0" * 64


@pytest.fixture
def images() -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for image in made:
        remove_image(image)


def move_to(stack: Stack, tenant: TenantInfo, image: str, base: BuiltImage) -> None:
    stack.runtime.service.start_image(tenant, "test", image, base.governance_version)
    stack.agent.gateway.locator.forget(tenant.name)


def failures(stack: Stack, tenant: TenantInfo) -> list[str]:
    return [str(d["reason"]) for kind, d in stack.audit(tenant)
            if kind == "agent.message_failed"]


def test_the_control_plane_sends_no_policy_to_an_agent_on_another_schema(
        stack: Stack, live_tenant: LiveTenant, governed_image: BuiltImage,
        images: list[str]) -> None:
    tenant = live_tenant()
    token = stack.token(tenant)
    stack.model.reset(say("fine"))
    assert stack.chat(tenant, token, "hello there").status_code == 200  # in lockstep

    # An image whose governance reads another policy schema (its label says so).
    images.append(derived_image(governed_image.image_id,
                                f"LABEL osp.policy.schema={OTHER_SCHEMA}"))
    move_to(stack, tenant, images[-1], governed_image)
    stack.model.reset(say("must never be produced"))

    r = stack.chat(tenant, token, "hello again")

    assert r.status_code == 503, r.text
    assert "governance lockstep: the agent's image reads policy schema sha256:0000" in r.text
    assert stack.model.seen == []
    reason, = failures(stack, tenant)
    assert "governance lockstep" in reason and schema_hash()[:19] in reason
    # Nothing reached the agent: it logged no request, not even its own refusal.
    assert "lockstep" not in stack.backend.logs(tenant.name)


def test_the_agent_serves_no_policy_stamped_for_another_schema(
        stack: Stack, live_tenant: LiveTenant, governed_image: BuiltImage,
        images: list[str]) -> None:
    tenant = live_tenant()
    token = stack.token(tenant)
    # A mislabelled image: its label claims this control plane's schema, but the
    # governance inside reads another one. The transport sends; the agent refuses.
    changed = SCHEMA_FILE.read_bytes().replace(b'"title"', b'"description": "v-next", "title"',
                                               1)
    assert changed != SCHEMA_FILE.read_bytes()
    images.append(derived_image(governed_image.image_id, files={
        f"{SITE}/osp/governance/policy.schema.json": changed}))
    move_to(stack, tenant, images[-1], governed_image)
    stack.model.reset(say("must never be produced"))

    r = stack.chat(tenant, token, "hello there")

    assert r.status_code == 503, r.text
    assert "governance lockstep: this agent reads policy schema" in r.text
    assert stack.model.seen == []
    reason, = failures(stack, tenant)
    assert f"the control plane sent one for {schema_hash()[:19]}" in reason
    assert "agent.lockstep_refused" in stack.backend.logs(tenant.name)


def test_a_branded_image_answers_as_its_agent_with_its_preamble(
        stack: Stack, live_tenant: LiveTenant, governed_image: BuiltImage,
        images: list[str]) -> None:
    tenant = live_tenant()
    token = stack.token(tenant)
    brand = {"product_name": "Helpdesk Pro", "agent_name": "Ava", "primary_color": "#1f6feb",
             "preamble": "You are Ava, the assistant of Helpdesk Pro."}
    images.append(derived_image(governed_image.image_id, new_dir=(
        "/opt/osp/brand", {"brand.json": json.dumps(brand).encode()})))
    move_to(stack, tenant, images[-1], governed_image)
    stack.configure(tenant, system_prompt="Answer in one sentence.")
    stack.model.reset(say("I am Ava."))

    r = stack.chat(tenant, token, "who are you?")

    assert r.status_code == 200, r.text
    system = stack.model.seen[0].body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Ava, the assistant of Helpdesk Pro.\n\n"
                                        "Answer in one sentence.")
    status = stack.runtime.service._agent_status(stack.backend.status(tenant.name))
    assert status is not None
    assert status["brand"] == {"product_name": "Helpdesk Pro", "agent_name": "Ava"}
