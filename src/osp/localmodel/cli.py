"""``osp model serve``: a model on this machine, served where tenant containers reach it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from osp.errors import Unavailable
from osp.terminal import console

if TYPE_CHECKING:
    from osp.config import Settings
    from osp.localmodel.server import LocalModel

out = console()


def tenant_instructions(model: LocalModel, tenant: str = "NAME") -> str:
    """The commands that point a tenant at the local model (each one is needed: the model
    setting, the firewall's host port, the key, and a restart that delivers the key)."""
    # The host port first: set-model warns about a port the tenant may not reach yet.
    return (f"  osp tenant limits {tenant} --host-port {model.port}\n"
            f"  osp tenant set-model {tenant} --provider openai --base-url "
            f"{model.tenant_base_url} --model {model.name}\n"
            f"  osp secret set {tenant} MODEL_API_KEY < {model.key_file}\n"
            f"  osp tenant restart {tenant}\n")


def register(app: typer.Typer, settings: Callable[..., Settings]) -> None:
    model_app = typer.Typer(help="A model on this machine (no hosted API).",
                            no_args_is_help=True)
    app.add_typer(model_app, name="model")

    @model_app.command("serve")
    def serve(model: Annotated[Path | None, typer.Option(
                  help="A GGUF model file (default: the bundled SmolLM2-135M-Instruct).")]
              = None,
              host: Annotated[str, typer.Option(
                  help="Address to listen on (default: every address, as tenant networks "
                       "reach this host at their own gateway addresses).")] = "0.0.0.0",  # noqa: S104
              port: Annotated[int | None, typer.Option(
                  help="Port (default OSP_MODEL_PORT, 8402).", min=1, max=65535)] = None,
              threads: Annotated[int | None, typer.Option(
                  help="CPU threads (default: half the cores).", min=1)] = None,
              name: Annotated[str | None, typer.Option(
                  help="The model name clients ask for (default: from the file).")] = None,
              ) -> None:
        """Serve a GGUF model as an OpenAI-compatible API until Ctrl-C. Every request must
        carry the key kept in the data directory (local-model.key)."""
        from osp.localmodel.server import ServerOptions, running

        cfg = settings()
        options = ServerOptions(data_dir=cfg.data_dir, port=port or cfg.model_port,
                                host=host, model=model, name=name, threads=threads)
        print("starting the local model server ...", file=sys.stderr, flush=True)
        with running(options) as server:
            lm = server.model
            out.print(f"local model {lm.name} on port {lm.port} (log {server.log}); Ctrl-C "
                      f"stops it\nPoint a tenant at it (replace NAME):\n"
                      f"{tenant_instructions(lm)}", highlight=False)
            try:
                rc = server.wait()
            except KeyboardInterrupt:
                return
        raise Unavailable(f"the local model server stopped ({rc}): see {server.log}")
