"""`osp chat` and `osp tenant set-model` through their typer commands."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from osp.app import App
from osp.app.agent import AgentParts, agent_routers
from osp.config import Settings
from osp.errors import OspError
from osp.gateway import cli as agent_cli
from osp.platform import Platform
from osp.tenancy.service import TenantInfo
from tests.apps import admin_app
from tests.gateway.test_gateway import token_for
from tests.slots import free_port


@pytest.fixture
def osp_url(platform: Platform, parts: AgentParts) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(admin_app(platform, *agent_routers(
        parts)), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def cli(platform: Platform) -> typer.Typer:
    app = typer.Typer()
    tenant_app = typer.Typer()
    app.add_typer(tenant_app, name="tenant")

    @contextmanager
    def open_app(**_kw: object) -> Iterator[App]:
        yield App(platform)

    agent_cli.register(app, tenant_app, open_app, Settings)
    return app


def test_chat_explains_what_is_missing(platform: Platform, osp_url: str,
                                       make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    runner = CliRunner()
    token = token_for(platform, tenant, ["chat"], role="member")

    no_token = runner.invoke(cli(platform), ["chat", tenant.name, "hi"], env={"OSP_TOKEN": ""})
    no_server = runner.invoke(cli(platform), ["chat", tenant.name, "hi"],
                              env={"OSP_TOKEN": token, "OSP_URL": "http://127.0.0.1:9"})
    no_agent = runner.invoke(cli(platform), ["chat", tenant.name, "hi"],
                             env={"OSP_TOKEN": token, "OSP_URL": osp_url})

    assert isinstance(no_token.exception, OspError) and "OSP_TOKEN" in str(no_token.exception)
    assert isinstance(no_server.exception, OspError)
    assert "osp up" in no_server.exception.message
    assert isinstance(no_agent.exception, OspError)
    assert "the agent is not running" in no_agent.exception.message


def test_set_model_saves_and_says_how_to_add_the_key(
        platform: Platform, parts: AgentParts, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant()
    result = CliRunner().invoke(cli(platform), [
        "tenant", "set-model", tenant.name, "--provider", "openai",
        "--base-url", "http://osp-host:11434/v1", "--model", "llama3.2"])
    refused = CliRunner().invoke(cli(platform), [
        "tenant", "set-model", tenant.name, "--provider", "openai", "--model", "x"])

    assert result.exit_code == 0, result.output
    assert "MODEL_API_KEY" in result.output
    model = parts.settings.get(tenant.id).model
    assert (model.provider, model.base_url, model.model) == \
        ("openai", "http://osp-host:11434/v1", "llama3.2")
    assert isinstance(refused.exception, OspError) and "--base-url" in refused.exception.message


def test_retention_is_shown_set_applied_and_audited(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    tenant = make_tenant("ret")
    runner = CliRunner()
    shown = runner.invoke(cli(platform), ["tenant", "retention", tenant.name])
    assert shown.exit_code == 0 and "kept forever" in shown.stdout, shown.output

    set_ = runner.invoke(cli(platform), ["tenant", "retention", tenant.name, "--days", "30",
                                         "--now"])
    assert set_.exit_code == 0, set_.output
    assert "kept 30 days; 0 expired message(s) deleted" in set_.stdout
    with platform.db.tenant(tenant.id) as s:
        kinds = [e.kind for e in platform.audit.list(s, tenant.id, 50)]
    assert "messages.retention_set" in kinds

    bad = runner.invoke(cli(platform), ["tenant", "retention", tenant.name, "--days", "0"])
    assert bad.exit_code != 0 and "between 1 and 3650" in str(bad.exception or bad.output)
    both = runner.invoke(cli(platform), ["tenant", "retention", tenant.name, "--days", "3",
                                         "--keep"])
    assert both.exit_code != 0
    cleared = runner.invoke(cli(platform), ["tenant", "retention", tenant.name, "--keep"])
    assert "kept forever" in cleared.stdout
