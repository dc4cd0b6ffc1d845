"""Faults mid-message against a real `osp up`: the control plane SIGKILLed and restarted,
Postgres stopped and started, the tenant's container killed, the model hanging past its
timeout or answering garbage, a rail failing.

The property, checked after every fault: every message the platform accepted ends in a
terminal state its sender can see through the API (answered, refused or failed: never lost,
never left pending), and every answered or refused one has its governance decisions in the
tenant's audit trail.

One `osp up` process (embedded Postgres in its own data dir, its own runtime prefix, address
pool and internal port) with one tenant whose agent runs in a real container; the model is
the scripted server on the host, reached by the container through its gateway.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from osp.app import App
from osp.config import Settings
from osp.governance.policy import PRESETS
from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.platform import open_platform
from osp.release.build import BuiltImage
from osp.release.manifest import ReleaseKey, sign
from osp.release.signed import manifest_store
from osp.runtime.podman import PodmanBackend, PodmanSettings
from osp.runtime.store import PlatformSecrets
from tests import fakes
from tests.agent.scripted import ScriptedModel, say
from tests.runtime.conftest import purge
from tests.slots import claim_slot, free_port

pytestmark = pytest.mark.podman

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"answered", "refused", "failed", "awaiting_approval"}
PG_CTL = Path(__import__("pgserver").__file__).parent / "pginstall" / "bin" / "pg_ctl"


@dataclass
class World:
    data_dir: Path
    port: int
    env: dict[str, str]
    tenant: str
    tenant_id: uuid.UUID
    token: str
    model: ScriptedModel
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    sent: list[str] = field(default_factory=list)  # texts the platform may have accepted

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/tenants/{self.tenant}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def up(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "osp", "up", "--port",
                                          str(self.port)], env=self.env, cwd=ROOT,
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz",
                             timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "osp up did not become healthy"
            time.sleep(0.3)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def chat(self, text: str, timeout: float = 120) -> httpx.Response:
        self.sent.append(text)
        return httpx.post(f"{self.url}/messages", json={"text": text}, headers=self.headers(),
                          timeout=timeout)

    def chat_in_background(self, text: str) -> tuple[threading.Thread, dict[str, Any]]:
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                r = self.chat(text)
                result["status"], result["body"] = r.status_code, r.json()
            except httpx.HTTPError as exc:  # the control plane died under the request
                result["error"] = type(exc).__name__

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        return worker, result

    def messages(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/messages", params={"limit": 200}, headers=self.headers(),
                      timeout=30)
        assert r.status_code == 200, r.text
        return list(r.json())

    def message(self, message_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/messages/{message_id}", headers=self.headers(), timeout=30)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def audit(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.url}/audit", params={"limit": 1000}, headers=self.headers(),
                      timeout=30)
        assert r.status_code == 200, r.text
        return list(r.json())

    def configure(self, **document: Any) -> None:
        r = httpx.get(f"{self.url}/agent/config", headers=self.headers(), timeout=30)
        merged = {**r.json(), **document}
        r = httpx.put(f"{self.url}/agent/config", json=merged, headers=self.headers(),
                      timeout=30)
        assert r.status_code == 200, r.text

    def settled(self, timeout_s: float = 90) -> list[dict[str, Any]]:
        """Waits until no message is pending; then checks the property (see module doc)."""
        deadline = time.monotonic() + timeout_s
        while True:
            listed = self.messages()
            pending = [m for m in listed if m["status"] not in TERMINAL]
            if not pending:
                break
            assert time.monotonic() < deadline, f"messages left pending: {pending}"
            time.sleep(0.5)
        # None lost: as many messages as the platform was sent (each text accepted once).
        assert len(listed) == len(self.sent), (len(listed), self.sent)
        turns = {e["details"].get("message_id"): e["details"] for e in self.audit()
                 if e["kind"] == "governance.turn"}
        for m in listed:
            shown = self.message(m["message_id"])
            assert shown["status"] == m["status"]
            if m["status"] in ("answered", "refused"):
                # Never answered without its governance decisions on record.
                assert m["message_id"] in turns, m
                assert turns[m["message_id"]]["decisions"], m
            if m["status"] == "failed":
                assert shown["error"], shown  # visibly failed: with a reason
        return listed


def _prepare(data_dir: Path, image: BuiltImage, model: ScriptedModel) -> tuple[str, uuid.UUID,
                                                                                  str]:
    """The installation `osp up` will serve: one tenant with its model, key and host port,
    and the test session's agent image signed by this installation's release key."""
    with open_platform(Settings(data_dir=data_dir)) as platform:
        app = App(platform)
        tenant = platform.tenants.create(f"fault-{uuid.uuid4().hex[:6]}", "test")
        user_id = platform.identity.create_user(tenant, "owner@example.com",
                                                "correct horse battery 9", "owner", "test")
        owner = Principal(tenant.id, user_id, "owner", "session", scopes=ROLE_SCOPES["owner"])
        _id, token = platform.identity.create_token(owner, "faults",
                                                    sorted(ROLE_SCOPES["owner"]), None)
        with platform.db.tenant(tenant.id) as s:
            platform.vault.put(s, tenant.id, "MODEL_API_KEY", fakes.model_key().encode(), "test")
        app.agent.settings.set_model(tenant.id, "openai", f"http://osp-host:{model.port}/v1",
                                     "scripted", "test")
        app.runtime.service.set_limits(tenant, "test", host_ports=(model.port,))
        key = ReleaseKey(PlatformSecrets(platform.db, platform.vault)).private_or_create()
        sign(manifest_store(data_dir), key, image_id=image.image_id, tag=image.tag,
             osp_version=image.osp_version, governance_version=image.governance_version,
             report={}, report_hash="sha256:test")
        return tenant.name, tenant.id, token


@pytest.fixture(scope="module")
def world(governed_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    model = ScriptedModel(port=free_port())
    server = model.start("0.0.0.0")
    prefix, pool, lock = claim_slot("osf", 223)
    backend = PodmanBackend(PodmanSettings(prefix=prefix, pool=pool))
    purge(backend)  # what a crashed earlier session of this slot left behind
    data_dir = tmp_path_factory.mktemp("faults") / "osp"
    t0 = time.monotonic()
    tenant, tenant_id, token = _prepare(data_dir, governed_image, model)
    print(f"faults: installation prepared in {time.monotonic() - t0:.1f}s")
    env = {**os.environ, "OSP_DATA_DIR": str(data_dir), "OSP_RUNTIME_PREFIX": prefix,
           "OSP_RUNTIME_POOL": pool, "OSP_INTERNAL_PORT": str(free_port()),
           "PYTHONPATH": str(ROOT)}
    env.pop("OSP_DATABASE_URL", None)
    w = World(data_dir, free_port(), env, tenant, tenant_id, token, model,
              data_dir.parent / "osp-up.log")
    started = time.monotonic()
    try:
        w.up()
        print(f"faults: osp up healthy after {time.monotonic() - started:.1f}s")
        r = httpx.post(f"{w.url}/runtime/start", headers=w.headers(), timeout=300)
        assert r.status_code == 200, r.text
        model.reset(say("ready"))
        r = w.chat("are you there?")  # waits out the agent's boot (redelivery window)
        assert r.status_code == 200 and r.json()["reply"] == "ready", r.text
        print(f"faults: first answer after {time.monotonic() - started:.1f}s")
        yield w
    finally:
        w.stop()
        server.shutdown()
        purge(backend)
        lock.close()


def test_control_plane_killed_mid_message_ends_answered_after_restart(world: World) -> None:
    hold = threading.Event()
    # Two answers: the one that goes into the dead connection, and the redelivery's.
    world.model.reset(say("the slow answer"), say("the slow answer"))
    world.model.hold = hold
    worker, result = world.chat_in_background("tell me slowly")
    assert world.model.entered.wait(60)

    world.kill()  # SIGKILL: no shutdown code runs
    worker.join(30)
    assert "error" in result  # the client lost its request: it never saw a message id
    world.model.hold = None
    hold.set()
    world.up()  # start-up redelivers what the crash left in delivery

    listed = world.settled()
    assert listed[0]["status"] == "answered", listed
    assert world.message(listed[0]["message_id"])["reply"] == "the slow answer"


def test_postgres_stopped_mid_message_the_message_still_settles(world: World) -> None:
    hold = threading.Event()
    world.model.reset(say("answer while the database is away"),
                      say("answer while the database is away"))
    world.model.hold = hold
    worker, result = world.chat_in_background("one while Postgres restarts")
    assert world.model.entered.wait(60)
    pg_dir = world.data_dir / "pg"
    owner = pwd.getpwuid(pg_dir.stat().st_uid).pw_name

    def pg_ctl(*args: str) -> None:
        done = subprocess.run(["runuser", "-u", owner, "--", str(PG_CTL), "-D", str(pg_dir),
                               "-w", "-t", "60", *args], capture_output=True, text=True,
                              timeout=90)
        assert done.returncode == 0, done.stderr

    # Started again as pgserver starts it: no TCP, the same socket directory.
    socket_dir = (pg_dir / "postmaster.pid").read_text().splitlines()[4]
    pg_ctl("-m", "fast", "stop")
    world.model.hold = None
    hold.set()  # the agent's outcome arrives while the database is down
    worker.join(60)
    assert result.get("status") in (200, 503), result
    pg_ctl("-o", f'-h "" -k {socket_dir}', "-l", str(pg_dir / "restart.log"), "start")

    listed = world.settled()
    assert listed[0]["status"] in ("answered", "failed"), listed


def test_container_killed_mid_message_is_redelivered(world: World) -> None:
    hold = threading.Event()
    world.model.reset(say("after the restart"), say("after the restart"))
    world.model.hold = hold
    worker, result = world.chat_in_background("one while the container dies")
    assert world.model.entered.wait(60)
    container = f"{world.env['OSP_RUNTIME_PREFIX']}-t-{world.tenant}"
    subprocess.run(["podman", "kill", container], capture_output=True, timeout=60)
    world.model.hold = None
    hold.set()
    r = httpx.post(f"{world.url}/runtime/restart", headers=world.headers(), timeout=120)
    assert r.status_code == 200, r.text
    worker.join(120)

    assert result.get("status") == 200, result
    listed = world.settled()
    assert listed[0]["status"] == "answered", listed


def test_a_hanging_model_fails_the_message_visibly(world: World) -> None:
    world.configure(model={**_model(world), "timeout_s": 2, "retries": 0})
    try:
        hold = threading.Event()
        world.model.reset()
        world.model.hold = hold
        r = world.chat("a question the model never answers")
        hold.set()
        world.model.hold = None
        assert r.status_code == 502, r.text
        listed = world.settled()
        assert listed[0]["status"] == "failed", listed
        assert "2s" in world.message(listed[0]["message_id"])["error"]
    finally:
        world.configure(model=_model(world))


def test_a_model_answering_garbage_fails_the_message_visibly(world: World) -> None:
    world.configure(model={**_model(world), "retries": 0})
    try:
        world.model.reset()
        world.model.garbage.extend([b"<html>not json at all", b'{"choices": "nope"}',
                                    b'{"choices": [{"message": {"content": 42}}]}'])
        codes = [world.chat(f"garbage number {i}").status_code for i in range(3)]
        listed = world.settled()
        assert all(m["status"] in ("failed", "answered") for m in listed[:3]), listed
        assert {c for c in codes} <= {200, 502, 503}, codes
    finally:
        world.configure(model=_model(world))


def test_a_failing_rail_refuses_and_the_refusal_is_on_record(world: World) -> None:
    # A rail over its (absurdly small) timeout is a rail failure: the pipeline must reject.
    stages = {stage: [dict(rail) for rail in rails] for stage, rails in PRESETS["lean"].items()}
    for rail in stages["output"]:
        if rail["key"] == "output.pii":
            rail["timeout_ms"] = 0.000001
    world.configure(policy={"stages": stages})
    try:
        world.model.reset(say("a reply the broken rail has to look at"))
        r = world.chat("hello rails")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "refused", r.text
        assert "broken rail" not in r.json()["reply"]
        listed = world.settled()
        turn = next(e["details"] for e in world.audit() if e["kind"] == "governance.turn"
                    and e["details"]["message_id"] == listed[0]["message_id"])
        failed = [d for d in turn["decisions"] if d.get("rail") == "output.pii"]
        assert failed and failed[0]["action"] == "reject", turn
    finally:
        world.configure(policy={"preset": "lean"})


def _model(world: World) -> dict[str, Any]:
    r = httpx.get(f"{world.url}/agent/config", headers=world.headers(), timeout=30)
    return dict(r.json()["model"])


def test_metrics_after_real_traffic_show_every_family(world: World) -> None:
    """Runs last: the messages above (answered, refused, failed) went through this process."""
    for _ in range(7):  # the account's limit is 5 attempts: the rest are throttled
        httpx.post(f"http://127.0.0.1:{world.port}/api/v1/auth/login",
                   json={"tenant": world.tenant, "email": "owner@example.com",
                         "password": "not the password"}, timeout=30)
    text = httpx.get(f"http://127.0.0.1:{world.port}/metrics", timeout=30).text

    def value(prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(prefix))

    for family in ('osp_messages_total{outcome="answered"}',
                   'osp_messages_total{outcome="failed"}',
                   'osp_messages_total{outcome="refused"}',
                   'osp_rail_decisions_total{action="allow",rail="input.injection"}',
                   'osp_rail_decisions_total{action="reject",rail="output.pii"}',
                   "osp_rail_latency_seconds_count", "osp_audit_append_seconds_count",
                   'osp_throttle_hits_total{kind="LoginThrottled"}',
                   "osp_http_requests_total", 'osp_tenants{state="active"}'):
        assert value(family) > 0, (family, text[:3000])
    assert world.tenant not in text  # no tenant names in labels
