"""``osp up --demo``: a demo tenant with an owner, a chat token and a sensible agent config."""

from __future__ import annotations

import secrets

from osp.agent.providers.factory import MODEL_KEY_SECRET
from osp.errors import Conflict, OspError
from osp.gateway.settings import AgentSettings
from osp.identity.scopes import ROLE_SCOPES
from osp.identity.service import Principal
from osp.localmodel.server import LocalModel
from osp.platform import Platform
from osp.runtime.wiring import RuntimeParts
from osp.tenancy.service import TenantInfo

DEMO_TENANT = "demo"
DEMO_EMAIL = "owner@demo.example.com"
DEMO_TOKEN_NAME = "demo chat"  # noqa: S105 (a label, not a credential)
DEMO_CONFIG = {
    "system_prompt": "You are the demo assistant of OSP. Be brief and friendly.",
    "policy": {"preset": "lean", "tools": {
        "allowed": ["memory_read", "memory_write", "memory_search", "knowledge_search"],
        "approval_required": ["memory_write"],
        # The tools' own JSON Schemas still validate every call.
        "allow_unknown_arguments": True}},
    "flows": [{"name": "human", "examples": ["talk to a human", "speak to a person"],
               "steps": ["I will ask a person to get back to you. What is the best way to "
                         "reach you?", "Thanks, someone will be in touch."]}],
}


def create_demo(platform: Platform, runtime: RuntimeParts | None = None,
                local_model: LocalModel | None = None) -> str:
    """Creates (or reuses) the demo tenant; returns what to print. With ``local_model`` the
    agent is wired to it (model setting, key, host port) before it starts."""
    actor = "system:demo"
    try:
        tenant = platform.tenants.create(DEMO_TENANT, actor)
        created = True
    except Conflict:
        tenant = platform.tenants.get(DEMO_TENANT)
        created = False
    users = {u.email: u for u in platform.identity.list_users(tenant.id)}
    password = None
    if DEMO_EMAIL in users:
        user_id = users[DEMO_EMAIL].id
    else:
        password = secrets.token_urlsafe(12)
        user_id = platform.identity.create_user(tenant, DEMO_EMAIL, password, "owner",
                                                actor)
    settings = AgentSettings(platform.db, platform.audit)
    if created:
        settings.set_document(tenant.id, DEMO_CONFIG, actor)
    owner = Principal(tenant.id, user_id, "owner", "session", scopes=ROLE_SCOPES["owner"])
    # Each start prints a fresh token; the ones printed before are revoked, so restarts do
    # not leave a trail of live 30-day credentials in old terminals and scrollback.
    # Said out loud, so a second terminal still holding the old one knows why it fails.
    revoked = 0
    for old in platform.identity.list_tokens(tenant.id):
        if old.name == DEMO_TOKEN_NAME and old.revoked_at is None:
            platform.identity.revoke_token(owner, old.id)
            revoked += 1
    _id, token = platform.identity.create_token(owner, DEMO_TOKEN_NAME, ["chat", "tenant:read"],
                                                30)
    if local_model is not None:
        _use_local_model(platform, runtime, tenant, local_model, actor)
    started = ""
    if runtime is not None:
        try:
            runtime.service.start(tenant, actor, wait=False)
            started = "The demo agent is starting in its own container.\n"
        except OspError as exc:  # the control plane still serves without it
            started = f"The demo agent could not start yet: {exc.message}\n"
    login = f"  sign in: tenant demo, {DEMO_EMAIL}, password {password}\n" if password else ""
    replaced = ("  (this replaces the token printed by the previous `osp up --demo`, which is "
                "now revoked; `osp token create demo --scopes chat` makes a lasting one)\n"
                if revoked else "")
    head = f"Demo tenant '{DEMO_TENANT}' is ready.\n{started}{login}" \
           f"  export OSP_TOKEN={token}\n{replaced}"
    if local_model is not None:
        return (f"{head}It uses the local model {local_model.name}, served by this `osp up` "
                f"on port {local_model.port} (no hosted API, no API key to set).\n"
                "Chat with it:\n"
                "  osp chat demo \"hello\"\n")
    return (
        f"{head}"
        "Point it at a model (pick one):\n"
        "  osp tenant set-model demo --provider openai --base-url https://api.openai.com/v1 "
        "--model gpt-4o-mini && osp secret set demo MODEL_API_KEY\n"
        "  osp tenant set-model demo --provider openai --base-url http://osp-host:11434/v1 "
        "--model llama3.2 && osp tenant limits demo --host-port 11434   # Ollama on this host\n"
        "then restart it (a new key and host ports reach the agent at its next start):\n"
        "  osp tenant restart demo\n"
        "Chat with it:\n"
        "  osp chat demo \"hello\"\n"
    )


def _use_local_model(platform: Platform, runtime: RuntimeParts | None,
                     tenant: TenantInfo, model: LocalModel, actor: str) -> None:
    """Everything a tenant needs to use the local model, in place before its agent starts:
    the model setting, the key as its MODEL_API_KEY secret (delivered at boot like a hosted
    provider's key), and the model's port among the host ports its firewall lets through."""
    AgentSettings(platform.db, platform.audit).set_model(
        tenant.id, "openai", model.tenant_base_url, model.name, actor)
    with platform.db.tenant(tenant.id) as s:
        platform.vault.put(s, tenant.id, MODEL_KEY_SECRET, model.api_key.encode(), actor)
    if runtime is not None:
        ports = runtime.service.repo.get(tenant.id).host_ports
        if model.port not in ports:
            runtime.service.set_limits(tenant, actor, host_ports=(*ports, model.port))
