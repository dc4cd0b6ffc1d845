"""`osp guard`: run one governance stage over JSON Lines from stdin.

Each input line ``{"id": ..., "text": ...}`` yields exactly one output line, in order:
``{"id", "action", "rail", "reason", "text", "scores", "latency_ms"}``. A malformed line yields
``{"id": null, "action": "error", "reason": "malformed_input", ...}`` and a one-line message on
stderr; ``--stop-on-error`` ends the run there instead. Memory stays constant: one line at a time.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer

if TYPE_CHECKING:  # imported by the command itself: `osp --help` does not load the rails
    from osp.governance.decisions import AuditRecord, Stage
    from osp.governance.pipeline import Pipeline
    from osp.governance.policy import Policy

GUARD_STAGES = ("input", "output", "retrieval")
JUDGE_KEY = "output.judge"


class _JsonlAuditSink:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def emit(self, record: AuditRecord) -> None:
        row = asdict(record)
        row["changes"] = [list(c.values()) for c in row["changes"]]
        self._stream.write(json.dumps(row, default=str) + "\n")


def _fail(message: str, code: int = 2) -> SystemExit:
    typer.echo(f"osp guard: {message}", err=True)
    # SystemExit rather than typer.Exit: click turns Exit into a return value when the app runs
    # with standalone_mode=False, and a failed check must never exit 0.
    return SystemExit(code)


def _parse(raw: bytes, lineno: int) -> tuple[Any, str]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"line {lineno}: not UTF-8 (byte {exc.start})") from None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
    text = obj.get("text")
    if not isinstance(text, str):
        raise ValueError(f'line {lineno}: "text" must be a string')
    ident = obj.get("id")
    if ident is not None and not isinstance(ident, str | int | float):
        raise ValueError(f'line {lineno}: "id" must be a string or a number')
    return ident, text


def run_guard(
    pipeline: Pipeline, stage: Stage, source: BinaryIO, sink: BinaryIO, stop_on_error: bool
) -> int:
    """Returns the number of malformed lines (stops at the first when stop_on_error)."""
    bad = 0
    for lineno, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        try:
            ident, text = _parse(raw.rstrip(b"\r\n"), lineno)
        except ValueError as exc:
            bad += 1
            typer.echo(f"osp guard: {exc}", err=True)
            out: dict[str, Any] = {
                "id": None,
                "action": "error",
                "rail": None,
                "reason": "malformed_input",
                "text": None,
                "scores": {},
                "latency_ms": 0.0,
                "line": lineno,
            }
            sink.write(json.dumps(out).encode() + b"\n")
            if stop_on_error:
                return bad
            continue
        result = pipeline.check(stage, text, request_id=f"line-{lineno}")
        out = {
            "id": ident,
            "action": result.action,
            "rail": result.rail,
            "reason": result.reason,
            "text": result.text,
            "scores": dict(result.scores),
            "latency_ms": round(result.latency_ms, 3),
        }
        # A lone surrogate cannot be UTF-8; written as a JSON \u escape it still round-trips.
        line = json.dumps(out, ensure_ascii=False).encode("utf-8", "backslashreplace")
        sink.write(line + b"\n")
    return bad


def guard(
    stage: Annotated[str, typer.Option(help="Stage to run: input, output or retrieval.")] = "input",
    policy: Annotated[
        Path | None, typer.Option(help="Policy JSON file (default: the lean preset).")
    ] = None,
    stop_on_error: Annotated[
        bool,
        typer.Option(
            "--stop-on-error/--keep-going",
            help="Stop at the first malformed line (exit 2) or report it and go on (exit 1).",
        ),
    ] = False,
    audit: Annotated[
        Path | None, typer.Option(help="Append audit records (JSON Lines) to this file.")
    ] = None,
    without_judge: Annotated[
        bool,
        typer.Option(
            "--without-judge",
            help="Run the output stage without the policy's output.judge rail (it needs the "
            "tenant's model, which osp guard does not have).",
        ),
    ] = False,
) -> None:
    """Check JSON Lines {"id", "text"} from stdin; write one verdict line per input to stdout."""
    from osp.governance.decisions import Stage
    from osp.governance.interfaces import NullSink
    from osp.governance.pipeline import Pipeline, PipelineConfigError
    from osp.governance.policy import Policy, PolicyError, load_policy
    from osp.governance.rails import builtin_registry

    if stage not in GUARD_STAGES:
        raise _fail(f"--stage must be one of {', '.join(GUARD_STAGES)}, not {stage!r}")
    try:
        pol = load_policy(policy) if policy else Policy.preset_policy("lean")
    except PolicyError as exc:
        raise _fail(str(exc).replace("\n", "; ").replace(":; ", ": ")) from None
    if stage == "output":
        pol = _judge_checked(pol, without_judge)
    audit_stream = None
    try:
        audit_stream = audit.open("a", encoding="utf-8") if audit else None
    except OSError as exc:
        raise _fail(f"cannot open audit file {audit}: {exc.strerror}") from None
    try:
        sink = _JsonlAuditSink(audit_stream) if audit_stream else NullSink()
        try:
            pipeline = Pipeline(pol, builtin_registry(), sink, tenant_id="osp-guard")
        except PipelineConfigError as exc:
            raise _fail(str(exc)) from None
        bad = run_guard(
            pipeline,
            Stage(stage),
            typer.get_binary_stream("stdin"),
            typer.get_binary_stream("stdout"),
            stop_on_error,
        )
        pipeline.close()
    finally:
        if audit_stream:
            audit_stream.close()
    if bad:
        raise SystemExit(2 if stop_on_error else 1)


def _judge_checked(pol: Policy, without_judge: bool) -> Policy:
    """The output judge asks the tenant's own model; the CLI has none. Running it anyway would
    reject every reply as ``judge_unavailable`` (fail closed), which reads like a verdict on the
    input. So: a one-line error, or, when asked, the other output rails without the judge."""
    output = pol.stages.output
    if not any(r.key == JUDGE_KEY for r in output):
        return pol
    if not without_judge:
        raise _fail(
            f"the policy's {JUDGE_KEY} rail asks the tenant's model, which osp guard cannot "
            "reach; pass --without-judge to check the other output rails"
        )
    typer.echo(f"osp guard: {JUDGE_KEY} skipped (--without-judge)", err=True)
    stages = pol.stages.model_copy(update={"output": [r for r in output if r.key != JUDGE_KEY]})
    return pol.model_copy(update={"stages": stages})


def register(app: typer.Typer) -> None:
    """Adds `guard` to the given Typer app (called from osp.cli)."""
    app.command("guard")(guard)
