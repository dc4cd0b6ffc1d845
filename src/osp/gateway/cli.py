"""Agent commands: ``osp chat``, ``osp tenant set-model|set-config|show-config``,
``osp knowledge add``, ``osp skills add``. Thin: parse, call a service (or the API), print.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from osp.errors import OspError
from osp.terminal import CLI_ACTOR as ACTOR
from osp.terminal import console, tenant_arg

if TYPE_CHECKING:  # the composition root hands itself in; no run-time import of it
    from osp.app import App
    from osp.config import Settings

OpenApp = Callable[..., AbstractContextManager["App"]]
out = console()


def chat_request(url: str, token: str, tenant: str, text: str, skill: str | None,
                 timeout_s: float = 330.0) -> dict[str, Any]:
    import httpx

    body: dict[str, Any] = {"text": text}
    if skill:
        body["skill"] = skill
    try:
        response = httpx.post(f"{url.rstrip('/')}/api/v1/tenants/{tenant}/messages", json=body,
                              headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise OspError(f"cannot reach OSP at {url} ({type(exc).__name__}): is `osp up` "
                       "running? (set OSP_URL, or OSP_HOST and OSP_PORT, otherwise)") from None
    try:
        data = response.json()
    except ValueError:
        raise OspError(f"OSP answered HTTP {response.status_code} without JSON") from None
    if response.status_code != 200 or not isinstance(data, dict):
        error = data.get("error") if isinstance(data, dict) else None
        raise OspError(str(error or f"HTTP {response.status_code}"))
    return data


def register(app: typer.Typer, tenant_app: typer.Typer, open_app: OpenApp,
             settings: Callable[[], Settings]) -> None:
    knowledge_app = typer.Typer(help="Documents an agent searches.", no_args_is_help=True)
    skills_app = typer.Typer(help="Skills on an agent's volume.", no_args_is_help=True)
    app.add_typer(knowledge_app, name="knowledge")
    app.add_typer(skills_app, name="skills")

    @app.command("chat")
    def chat(tenant: str, text: str,
             skill: Annotated[str | None, typer.Option(help="Use this skill.")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Send TEXT to the tenant's agent and print the reply (needs OSP_TOKEN)."""
        cfg = settings()
        token = cfg.token.get_secret_value() if cfg.token else ""
        if not token:
            raise OspError("set OSP_TOKEN to an API token with the chat scope "
                           "(`osp up --demo` prints one)")
        data = chat_request(cfg.api_url, token, tenant, text, skill)
        if as_json:
            print(json.dumps(data))
            return
        print(data.get("reply") or "")

    @tenant_app.command("set-model")
    def set_model(name: str,
                  provider: Annotated[str, typer.Option(help="openai (any OpenAI-compatible "
                                                             "server) or anthropic")],
                  model: Annotated[str, typer.Option(help="Model name at the provider.")],
                  base_url: Annotated[str | None, typer.Option(
                      help="e.g. https://api.openai.com/v1, or http://osp-host:11434/v1 "
                           "for Ollama on this host")] = None) -> None:
        """Point the tenant's agent at a model; its key is the secret MODEL_API_KEY."""
        with open_app() as a:
            platform = a.platform
            from osp.gateway.settings import AgentSettings

            info = tenant_arg(platform, name)
            AgentSettings(platform.db, platform.audit).set_model(info.id, provider, base_url,
                                                                 model, ACTOR)
            problems = a.model_endpoint_problems(info)
        # The model setting travels with every message: no restart. A key is a secret,
        # which reaches the agent only when it starts.
        out.print(f"{name} now uses {provider} model {model} from its next message; a hosted "
                  f"model needs its key: `osp secret set {name} MODEL_API_KEY`, then "
                  f"`osp tenant restart {name}`")
        for problem in problems:
            print(f"warning: {problem}", file=sys.stderr)

    @tenant_app.command("set-config")
    def set_config(name: str, file: Path) -> None:
        """Replace the agent's policy, flows, tools and prompt with a JSON document."""
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise OspError(f"cannot read {file}: {exc.strerror}") from None
        except ValueError as exc:
            raise OspError(f"{file} is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise OspError(f"{file} must hold a JSON object")
        with open_app() as a:
            platform = a.platform
            from osp.gateway.settings import AgentSettings

            info = tenant_arg(platform, name)
            config = AgentSettings(platform.db, platform.audit).set_document(info.id, document,
                                                                             ACTOR)
        out.print(f"configuration of {name} saved ({config.digest()}); it applies to the "
                  "next message")

    @tenant_app.command("show-config")
    def show_config(name: str) -> None:
        with open_app() as a:
            platform = a.platform
            from osp.gateway.settings import AgentSettings

            info = tenant_arg(platform, name)
            config = AgentSettings(platform.db, platform.audit).get(info.id)
        print(json.dumps(config.model_dump(mode="json"), indent=2, sort_keys=True))

    @tenant_app.command("retention")
    def retention(name: str,
                  days: Annotated[int | None, typer.Option(
                      help="Keep finished messages this many days (1-3650).")] = None,
                  keep: Annotated[bool, typer.Option(
                      "--keep", help="Keep messages forever (no retention).")] = False,
                  now: Annotated[bool, typer.Option(
                      "--now", help="Delete what is past the period now, not at the next "
                                    "hourly round of `osp up`.")] = False) -> None:
        """Show or set how long a tenant's messages are kept (set and deletions audited)."""
        if days is not None and keep:
            raise OspError("give --days N or --keep, not both")
        with open_app() as a:
            protection = a.agent.gateway.protection
            info = a.platform.tenants.get(name)
            if days is not None or keep:
                protection.set_retention(info.id, None if keep else days, ACTOR)
            current = protection.retention(info.id)
            deleted = protection.expire(info.id) if now else None
        print(f"{name}: messages kept "
              + (f"{current} days" if current is not None else "forever")
              + (f"; {deleted} expired message(s) deleted" if deleted is not None else ""))

    @knowledge_app.command("add")
    def knowledge_add(tenant: str, file: Path,
                      name: Annotated[str | None, typer.Option(
                          help="Document name (default: the file's name).")] = None) -> None:
        """Copy a .md or .txt document to the agent's /data/knowledge (the agent must run)."""
        try:
            content = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise OspError(f"cannot read {file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise OspError(f"{file} is not UTF-8 text") from None
        doc = name or file.name
        with open_app() as a:
            platform, parts = a.platform, a.agent
            info = tenant_arg(platform, tenant)
            result = parts.gateway.agent_post(info, "/v1/knowledge",
                                              {"name": doc, "content": content})
            with platform.db.tenant(info.id) as s:
                platform.audit.record(s, info.id, ACTOR, "agent.knowledge_added",
                                      {"document": doc, "chunks": result.get("chunks")})
        out.print(f"added {doc} to {tenant} ({result.get('chunks')} chunks)")

    @skills_app.command("add")
    def skills_add(tenant: str, folder: Path) -> None:
        """Install FOLDER/SKILL.md as a skill named after the folder (the agent must run)."""
        try:
            content = (folder / "SKILL.md").read_text(encoding="utf-8")
        except OSError as exc:
            raise OspError(f"cannot read {folder / 'SKILL.md'}: {exc.strerror}") from None
        with open_app() as a:
            platform, parts = a.platform, a.agent
            info = tenant_arg(platform, tenant)
            result = parts.gateway.agent_post(info, "/v1/skills",
                                              {"name": folder.name, "content": content})
            with platform.db.tenant(info.id) as s:
                platform.audit.record(s, info.id, ACTOR, "agent.skill_added",
                                      {"skill": result.get("name"),
                                       "allowed_tools": result.get("allowed_tools")})
        out.print(f"installed skill {result.get('name')} in {tenant}")
