"""The CLI, run as a separate process against the same database as the tests."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pgserver
import pytest

from osp.platform import Platform
from tests.slots import free_port

CANARY = "osp-canary-" + uuid.uuid4().hex


@pytest.fixture
def osp(platform: Platform, data_dir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "OSP_DATA_DIR": str(data_dir)}
        return subprocess.run([sys.executable, "-m", "osp", *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=120)

    return run


def _name() -> str:
    return "cli-" + uuid.uuid4().hex[:8]


def _assert_clean_error(r: subprocess.CompletedProcess[str], needle: str) -> None:
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], r.stderr


def test_tenant_secret_audit_roundtrip(osp: Callable[..., subprocess.CompletedProcess[str]],
                                       platform: Platform) -> None:
    name = _name()
    assert osp("tenant", "create", name).returncode == 0
    assert osp("secret", "set", name, "MODEL_API_KEY", stdin="sk-one\n").returncode == 0
    listing = osp("secret", "list", name, "--json")
    assert '"name": "MODEL_API_KEY"' in listing.stdout and "sk-one" not in listing.stdout
    verify = osp("audit", "verify", name)
    assert verify.returncode == 0 and "intact" in verify.stdout
    assert osp("audit", "list", name, "--json").stdout.count("\n") == 2
    t = platform.tenants.get(name)
    with platform.db.tenant(t.id) as s:
        assert platform.vault.get(s, t.id, "MODEL_API_KEY") == b"sk-one"
    assert osp("tenant", "delete", name, "--yes").returncode == 0


@pytest.mark.parametrize(("args", "stdin", "needle"), [
    (("tenant", "create", "Bad_Name"), "", "invalid tenant name"),
    (("tenant", "show", "no-such-tenant"), "", "unknown tenant"),
    (("secret", "set", "no-such-tenant", "K"), "v", "unknown tenant"),
    (("secret", "list", "no-such-tenant"), "", "unknown tenant"),
    (("audit", "verify", "no-such-tenant"), "", "unknown tenant"),
    (("user", "create", "not-an-email", "--tenant", "no-such-tenant"), "long enough pw", "email"),
])
def test_bad_input_is_one_clear_line(osp: Callable[..., subprocess.CompletedProcess[str]],
                                     args: tuple[str, ...], stdin: str, needle: str) -> None:
    _assert_clean_error(osp(*args, stdin=stdin), needle)


def test_secret_bad_name_empty_and_oversized(osp: Callable[..., subprocess.CompletedProcess[str]],
                                             platform: Platform) -> None:
    name = _name()
    osp("tenant", "create", name)
    _assert_clean_error(osp("secret", "set", name, "bad name", stdin="v"), "secret name")
    _assert_clean_error(osp("secret", "set", name, "K", stdin=""), "empty")
    _assert_clean_error(osp("secret", "set", name, "K", stdin="x" * 70000), "larger than")
    _assert_clean_error(osp("secret", "set", name, "x" * 200, stdin="v"), "secret name")
    assert osp("secret", "list", name, "--json").stdout.strip() == "[]"
    _assert_clean_error(osp("tenant", "create", name), "already exists")
    assert len([t for t in platform.tenants.list() if t.name == name]) == 1


def test_malformed_dsn_is_a_clear_error(osp: Callable[..., subprocess.CompletedProcess[str]],
                                        tmp_path: Path) -> None:
    env = {**os.environ, "OSP_DATABASE_URL": "mysql://root@localhost/x",
           "OSP_DATA_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "osp", "tenant", "list"], env=env,
                       capture_output=True, text=True, timeout=60)
    _assert_clean_error(r, "OSP_DATABASE_URL")


def test_canary_secret_is_absent_from_every_durable_surface(
        osp: Callable[..., subprocess.CompletedProcess[str]], platform: Platform,
        data_dir: Path) -> None:
    name = _name()
    outputs = [osp("tenant", "create", name)]
    outputs.append(osp("secret", "set", name, "CANARY", stdin=CANARY))
    outputs.append(osp("secret", "set", name, "CANARY", stdin=CANARY + "-v2"))
    outputs += [osp("secret", "list", name), osp("audit", "list", name, "--json"),
                osp("tenant", "show", name), osp("vault", "rotate-kek")]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    t = platform.tenants.get(name)
    with platform.db.tenant(t.id) as s:  # it really is stored
        assert platform.vault.get(s, t.id, "CANARY") == (CANARY + "-v2").encode()

    for o in outputs:  # CLI output and logs
        assert CANARY not in o.stdout + o.stderr
    pg_dump = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    dump = subprocess.run([str(pg_dump), "--dbname", platform.admin_url.replace("/postgres?",
                                                                                "/osp?")],
                          capture_output=True, timeout=120)
    assert dump.returncode == 0 and b"secret_versions" in dump.stdout
    assert CANARY.encode() not in dump.stdout
    subprocess.run([str(Path(pg_dump).parent / "psql"), platform.admin_url, "-c", "CHECKPOINT"],
                   capture_output=True, timeout=60)
    for path in data_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert CANARY.encode() not in path.read_bytes(), path


def test_audit_verify_exits_non_zero_on_tampering(
        osp: Callable[..., subprocess.CompletedProcess[str]], platform: Platform,
        superuser_sql: Callable[..., list[tuple[object, ...]]]) -> None:
    name = _name()
    osp("tenant", "create", name)
    osp("secret", "set", name, "A", stdin="1")
    osp("secret", "set", name, "B", stdin="2")
    t = platform.tenants.get(name)
    superuser_sql("ALTER TABLE audit_events DISABLE TRIGGER USER; "
                  f"DELETE FROM audit_events WHERE tenant_id = '{t.id}' AND seq = 2; "
                  "ALTER TABLE audit_events ENABLE TRIGGER USER")
    r = osp("audit", "verify", name)
    assert r.returncode == 1 and "missing" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(("args", "usage", "needle"), [
    (("approvals", "list"), "Usage: osp approvals list", "Missing argument 'tenant'"),
    (("tenant", "nosuchcmd"), "Usage: osp tenant", "No such command 'nosuchcmd'"),
    (("tenant", "limits", "demo", "--cpus", "abc"), "Usage: osp tenant limits",
     "Invalid value for '--cpus'"),
    (("tenant", "list", "--no-such-option"), "Usage: osp tenant list",
     "No such option: --no-such-option"),
])
def test_usage_errors_print_usage_and_exit_2(osp: Callable[..., subprocess.CompletedProcess[str]],
                                             args: tuple[str, ...], usage: str,
                                             needle: str) -> None:
    r = osp(*args)
    assert r.returncode == 2, r.stderr
    assert usage in r.stderr and needle in r.stderr, r.stderr
    assert "unexpected" not in r.stderr and "Traceback" not in r.stderr


def test_oauth_provider_list_takes_the_tenant_as_an_argument(
        osp: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    _assert_clean_error(osp("oauth", "provider", "list", "no-such-tenant"), "unknown tenant")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OSP_URL", "OSP_HOST", "OSP_PORT", "OSP_TOKEN", "OSP_DATA_DIR")}
    return {**env, **extra}


@contextlib.contextmanager
def _recording_server() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """A stand-in control plane that records (path, Authorization) and answers a reply."""
    seen: list[tuple[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append((self.path, self.headers.get("Authorization", "")))
            body = json.dumps({"reply": "pong"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_cli_follows_osp_port_and_osp_url(tmp_path: Path) -> None:
    with _recording_server() as (port, seen), _recording_server() as (other, seen_other):
        r = subprocess.run([sys.executable, "-m", "osp", "chat", "demo", "hi"],
                           env=_env(OSP_HOST="127.0.0.1", OSP_PORT=str(port), OSP_TOKEN="tok",
                                    OSP_DATA_DIR=str(tmp_path)),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stdout.strip() == "pong", r.stderr
        assert seen == [("/api/v1/tenants/demo/messages", "Bearer tok")]
        # OSP_URL wins over OSP_HOST/OSP_PORT.
        r = subprocess.run([sys.executable, "-m", "osp", "chat", "demo", "hi"],
                           env=_env(OSP_PORT=str(port), OSP_URL=f"http://127.0.0.1:{other}/",
                                    OSP_TOKEN="tok", OSP_DATA_DIR=str(tmp_path)),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and len(seen) == 1 and len(seen_other) == 1, r.stderr


def test_up_on_a_busy_port_is_one_line_naming_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "osp", "up", "--port", str(port)],
                           env=_env(OSP_DATA_DIR=str(tmp_path / "d"),
                                    OSP_INTERNAL_PORT=str(free_port())),
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == "", r.stdout
    _assert_clean_error(r, "--port")
    assert f"port {port}" in r.stderr


def test_a_data_dir_without_installation_is_named_not_created(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"
    r = subprocess.run([sys.executable, "-m", "osp", "tenant", "list"],
                       env=_env(OSP_DATA_DIR=str(empty)), capture_output=True, text=True,
                       timeout=60)
    _assert_clean_error(r, str(empty))
    assert "osp up" in r.stderr and not empty.exists()


def test_piped_tables_are_not_cut_at_80_columns(
        osp: Callable[..., subprocess.CompletedProcess[str]], platform: Platform) -> None:
    name = _name()
    email = "a-rather-long-mailbox-name-for-a-wide-table@" + "example.com"
    assert osp("tenant", "create", name).returncode == 0
    assert osp("user", "create", name, email, stdin="long enough password").returncode == 0
    listing = osp("audit", "list", name)
    user_id = str(platform.identity.list_users(platform.tenants.get(name).id)[0].id)
    line = next(ln for ln in listing.stdout.splitlines() if "user.created" in ln)
    assert email in line and user_id in line and '"role": "member"' in line, listing.stdout
    assert "\r" not in listing.stderr and "⠋" not in listing.stdout + listing.stderr
