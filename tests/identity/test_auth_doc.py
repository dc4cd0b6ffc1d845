"""The `curl` examples of docs/auth.md ("Over the API"), run as written with bash, curl and
jq against a real `osp up`: sign-in, 2FA enrolment, sign-in with a code, tokens, sign-out.

Only what a reader fills in is substituted: the address (the doc's default port is taken
by whoever else runs OSP here), the one-time codes from the authenticator app, and the
token values the earlier steps printed. If the doc's examples change, this test must
change with them (the blocks are matched by count and content)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyotp
import pytest

from tests.prereqs import unavailable
from tests.slots import free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "auth.md"
DOC_OSP = "OSP=http://127.0.0.1:8400\n"
PASSWORD = "the password"
ME = "curl -s -b jar $OSP/api/v1/auth/me"  # the login block's last line


def api_blocks() -> list[str]:
    section = DOC.read_text(encoding="utf-8").split("## Over the API", 1)[1]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


class Reader:
    """A reader's shell: one working directory (the cookie jar) and the variables the
    examples set (CSRF) carried from one block to the next."""

    def __init__(self, cwd: Path, url: str) -> None:
        self.cwd = cwd
        self.url = url
        self.vars: dict[str, str] = {}

    def run(self, block: str, **fill: str) -> str:
        for placeholder, value in fill.items():
            assert placeholder in block, (placeholder, block)
            block = block.replace(placeholder, value)
        script = (f"set -euo pipefail\nOSP={self.url}\n" + block.replace(DOC_OSP, "")
                  + '\necho "__CSRF=${CSRF:-}"\n')
        proc = subprocess.run(["bash", "-c", script], cwd=self.cwd, capture_output=True,
                              text=True, timeout=60, env={**os.environ, **self.vars})
        assert proc.returncode == 0, (block, proc.stderr)
        out, _, csrf = proc.stdout.rpartition("__CSRF=")
        self.vars["CSRF"] = csrf.strip()
        return out


def _jsons(out: str) -> list[dict[str, object]]:
    """The JSON answers one block printed (curl adds no newline between them)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(out.rstrip()):
        while out[at].isspace():
            at += 1
        value, at = decoder.raw_decode(out, at)
        found.append(value)
    return found


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            unavailable(f"the docs' examples need {tool} (scripts/setup.sh installs it)")
    port = free_port()
    env = {**os.environ, "OSP_DATA_DIR": str(tmp_path / "osp"), "OSP_PORT": str(port),
           "OSP_INTERNAL_PORT": str(free_port()), "OSP_COOKIE_SECURE": "false",
           "OSP_RUNTIME_PREFIX": "osptestdoc", "OSP_RUNTIME_POOL": "10.222.0.0/16"}
    env.pop("OSP_DATABASE_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "osp", "up", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "osp up did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)

        def osp(*args: str, stdin: str | None = None) -> str:
            r = subprocess.run([sys.executable, "-m", "osp", *args], env=env, input=stdin,
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            return r.stdout

        osp("tenant", "create", "acme")
        osp("user", "create", "acme", "boss@acme.example", "--role", "owner", stdin=PASSWORD)
        yield f"http://127.0.0.1:{port}", osp
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_the_api_examples_of_the_auth_doc_work_as_written(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, osp = server
    blocks = api_blocks()
    assert len(blocks) == 8, "docs/auth.md's API examples changed: update this test"
    login, second_factor, enrol, confirm, create_token, bearer, list_revoke, logout = blocks
    reader = Reader(tmp_path, url)

    assert ME in login
    stage, me = reader.run(login).splitlines()[:2]
    assert stage == "full"
    assert json.loads(me)["role"] == "owner", me
    assert reader.vars["CSRF"] not in ("", "null")

    enrolled = json.loads(reader.run(enrol))
    secret = str(enrolled["secret"])
    assert str(enrolled["otpauth_uri"]).startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret)
    codes = json.loads(reader.run(confirm, **{'"123456"': f'"{totp.now()}"'}))
    assert len(codes["recovery_codes"]) == 10

    reader.run(logout)
    assert reader.run(login).splitlines()[0] == "mfa"
    # The code of the next time step: the one used to confirm may not be replayed.
    reader.run(second_factor, **{'"123456"': f'"{totp.at(time.time() + 30)}"'})
    assert json.loads(reader.run(ME))["role"] == "owner"

    made = json.loads(reader.run(create_token))
    assert str(made["token"]).startswith("ospt_")
    token = str(made["token"])

    out = _jsons(reader.run(bearer, **{"TOKEN=ospt_...": f"TOKEN={token}"}))
    tenant, message = out[0], out[1]
    assert tenant["name"] == "acme", tenant
    # The token is accepted for chat; the tenant's agent is not running in this test.
    assert "agent is not running" in str(message["error"]), message

    admin = osp("token", "create", "acme", "--scopes", "tokens:write", "--name", "admin").strip()
    reader.vars["ADMIN_TOKEN"] = admin
    out = reader.run(list_revoke, TOKEN_ID=str(made["id"]))
    assert str(made["id"]) in json.dumps(_jsons(out))
    # The revoked token no longer works.
    r = httpx.get(f"{url}/api/v1/tenants/acme", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401

    reader.run(logout)
    assert "role" not in reader.run(ME)  # the jar's session is gone
