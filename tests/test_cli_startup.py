"""`osp --help`, a group's help and a usage error import no part of the control plane: the
heavy modules are imported by the commands that use them (figures: docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from osp.cli import ROOT_VALUE_OPTIONS, app, command_word, for_argv
from osp.release import cli as release_cli
from osp.release import gate, scan

HEAVY = ("sqlalchemy", "alembic", "fastapi", "osp.app", "osp.platform", "osp.release.scan",
         "osp.release.gate", "osp.release.manifest", "cryptography", "osp.governance.engine")

PROBE = """
import json, sys
import typer.main
from osp import cli
built = []  # the commands typer turned into click commands (those with parameters)
original = typer.main.get_params_from_function
def counted(function):
    params = original(function)
    if params:
        built.append(f"{function.__module__}.{function.__qualname__}")
    return params
typer.main.get_params_from_function = counted
sys.argv = ["osp", *sys.argv[1:]]
try:
    cli.main()
except BaseException:
    pass
print(json.dumps({"modules": sorted(sys.modules), "built": built}), file=sys.stderr)
"""


def probe(argv: list[str]) -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          timeout=60, check=False)
    result: dict[str, list[str]] = json.loads(done.stderr.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("argv", [["--help"], ["tenant", "--help"], ["release", "--help"],
                                  ["approvals", "list"]])
def test_help_and_usage_errors_import_no_control_plane(argv: list[str]) -> None:
    loaded = set(probe(argv)["modules"])
    assert sorted(m for m in HEAVY if m in loaded) == []


def group_size(name: str) -> int:
    info = next(g for g in app.registered_groups if g.name == name)
    assert info.typer_instance is not None
    return len(info.typer_instance.registered_commands)


@pytest.mark.parametrize(("argv", "most"), [
    (["--help"], 1),                                   # the root's --data-dir only
    (["tenant", "--help"], 1 + group_size("tenant")),
    (["--data-dir", "/nowhere", "approvals", "list"], 1 + group_size("approvals")),
    (["up", "--help"], 2),
])
def test_typer_builds_only_the_commands_argv_names(argv: list[str], most: int) -> None:
    """typer inspects every command's signature before parsing; `osp` hands it only the
    group or command argv names (about 130 commands otherwise, a third of the start-up)."""
    built = probe(argv)["built"]
    assert len(set(built)) <= most, built


CASES = [["--help"], ["up", "--help"], ["chat", "--help"], ["nosuch"], ["--data-dir", "x"],
         ["approvals", "list"], ["tenant", "nosuch"], ["oauth", "provider", "--help"],
         *([g.name, "--help"] for g in app.registered_groups if g.name)]


@pytest.mark.parametrize("argv", CASES, ids=" ".join)
def test_the_pruned_app_says_what_the_whole_app_says(argv: list[str]) -> None:
    runner = CliRunner()
    whole = runner.invoke(app, argv, prog_name="osp")
    pruned = runner.invoke(for_argv(argv), argv, prog_name="osp")
    assert (pruned.exit_code, pruned.output) == (whole.exit_code, whole.output)


def test_every_root_option_that_takes_a_value_is_known_to_the_argv_scan() -> None:
    root = typer.main.get_command(app)
    takes_value = {o for p in root.params if not getattr(p, "is_flag", False)
                   for o in p.opts if o.startswith("-")}
    assert takes_value <= ROOT_VALUE_OPTIONS
    assert command_word(["--data-dir", "tenant", "list"]) == "list"
    assert command_word(["--data-dir=tenant", "token", "list"]) == "token"
    assert command_word(["--help"]) is None


def test_the_release_help_names_the_gates_files() -> None:
    assert (release_cli.RELEASE_TOML, release_cli.BASELINE) == (gate.RELEASE_TOML, gate.BASELINE)
    assert release_cli.ERROR == scan.ERROR
