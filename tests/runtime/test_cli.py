"""Runtime CLI verbs on a bare Typer app, wired exactly as osp.cli does with register()."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from osp.app import App, require_control_plane
from osp.errors import OspError
from osp.platform import Platform
from osp.runtime import cli as runtime_cli
from osp.runtime.billing import KEY_NAME
from osp.runtime.wiring import build_runtime
from osp.tenancy.service import TenantInfo
from tests.runtime.conftest import FAKE_IMAGE, FakeBackend
from tests.slots import free_port

REAL_CHECK = require_control_plane


@pytest.fixture
def cli(platform: Platform, fake_backend: FakeBackend,
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    @contextmanager
    def same_app(**_kw: Any) -> Iterator[App]:
        yield App(platform, backend=fake_backend, images=FAKE_IMAGE)

    monkeypatch.setattr(App, "require_control_plane", lambda self: None)
    app, tenant_app, image_app, billing_app = (typer.Typer() for _ in range(4))
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(image_app, name="image")
    app.add_typer(billing_app, name="billing")
    runtime_cli.register(tenant_app, image_app, same_app, billing_app)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=stdin)

    return run


def one_line_error(result: Any, text: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, OspError), result.exception
    assert text in result.exception.message and "\n" not in result.exception.message


def test_bad_input_is_a_one_line_error(cli: Callable[..., Any]) -> None:
    one_line_error(cli("tenant", "status", "nobody-here"), "unknown tenant")
    one_line_error(cli("tenant", "start", "Not_A_Name"), "invalid tenant name")
    one_line_error(cli("tenant", "stop", "x" * 50), "invalid tenant name")
    r = cli("tenant", "limits", "whatever", "--memory-mb", "8")
    assert r.exit_code == 2  # typer's own usage error, no traceback


def test_engine_down_leaves_state_unchanged(cli: Callable[..., Any], fake_backend: FakeBackend,
                                            make_tenant: Callable[..., TenantInfo],
                                            platform: Platform) -> None:
    t = make_tenant()
    fake_backend.down = True
    one_line_error(cli("tenant", "start", t.name, "--no-wait"), "podman is not working")
    one_line_error(cli("tenant", "suspend", t.name), "podman is not working")
    assert platform.tenants.get(t.name).state == "active"


def test_start_status_suspend_resume(cli: Callable[..., Any], fake_backend: FakeBackend,
                                     make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    assert cli("tenant", "start", t.name, "--no-wait").exit_code == 0
    status = cli("tenant", "status", t.name, "--json")
    data = json.loads(status.stdout)
    assert data["state"] == "running" and data["image_digest"] == FAKE_IMAGE.image_id
    assert cli("tenant", "suspend", t.name, "--reason", "unpaid").exit_code == 0
    one_line_error(cli("tenant", "start", t.name, "--no-wait"), "osp tenant resume")
    assert t.name not in fake_backend.running
    human = cli("tenant", "status", t.name)
    assert "suspended" in human.stdout
    assert cli("tenant", "limits", t.name, "--memory-mb", "512", "--host-port", "11434"
               ).exit_code == 0


def test_start_without_a_running_control_plane_says_so(
        cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
        make_tenant: Callable[..., TenantInfo], fake_backend: FakeBackend) -> None:
    # the real check, against a port nothing listens on
    monkeypatch.setattr(App, "require_control_plane",
                        lambda self: REAL_CHECK(free_port()))
    t = make_tenant()
    result = cli("tenant", "start", t.name)
    one_line_error(result, "start `osp up` first")
    assert t.name not in fake_backend.running


def test_billing_key(cli: Callable[..., Any], platform: Platform) -> None:
    one_line_error(cli("billing", "set-key", stdin="short"), "at least 32 bytes")
    r = cli("billing", "set-key", "--generate")
    assert r.exit_code == 0
    key = r.stdout.strip()
    assert len(key) == 64
    stored = build_runtime(platform, backend=FakeBackend(), images=FAKE_IMAGE).secrets
    assert stored.get(KEY_NAME) == key.encode()
