"""A model endpoint the tenant's agent cannot reach is named at `osp tenant set-model`, with
its fix, before any message is sent."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from osp.errors import OspError
from osp.platform import Platform
from osp.runtime.reach import _outward_address
from osp.runtime.store import RuntimeStateRepo
from osp.tenancy.service import TenantInfo
from tests.gateway.test_cli import cli


@contextmanager
def _listening(address: str) -> Iterator[int]:
    with socket.socket() as server:
        server.bind((address, 0))
        server.listen()
        yield int(server.getsockname()[1])


def _set_model(platform: Platform, tenant: str, base_url: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli(platform), ["tenant", "set-model", tenant, "--provider",
                                           "openai", "--base-url", base_url, "--model", "m"])
    message = r.exception.message if isinstance(r.exception, OspError) else ""
    return r.exit_code, r.stdout, r.stderr + message


def test_loopback_url_is_named_with_the_osp_host_fix(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    code, out, err = _set_model(platform, t.name, "http://127.0.0.1:11434/v1")
    assert code == 0 and "restart the tenant" not in out and "next message" in out
    assert "http://osp-host:11434/v1" in err and f"osp tenant limits {t.name} --host-port " \
        "11434" in err and "0.0.0.0" in err


@pytest.mark.skipif(_outward_address() is None, reason="this host has no non-loopback address")
def test_disallowed_port_and_loopback_only_server_are_named(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    with _listening("127.0.0.1") as port:
        code, _out, err = _set_model(platform, t.name, f"http://osp-host:{port}/v1")
    assert code == 0
    assert f"osp tenant limits {t.name} --host-port {port}" in err
    assert "listens only on 127.0.0.1" in err and "0.0.0.0" in err

    with _listening("0.0.0.0") as port:
        RuntimeStateRepo(platform.db).set(t.id, host_ports=[port])
        code, _out, err = _set_model(platform, t.name, f"http://osp-host:{port}/v1")
    assert code == 0 and "warning" not in err, err


def test_invalid_configuration_is_one_clean_line(
        platform: Platform, make_tenant: Callable[..., TenantInfo]) -> None:
    t = make_tenant()
    code, _out, err = _set_model(platform, t.name, "ftp://example.com/v1")
    assert code == 1
    assert "invalid agent configuration: model.base_url" in err and ":;" not in err
