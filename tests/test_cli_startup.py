"""`osp --help`, a group's help and a usage error import no part of the control plane: the
heavy modules are imported by the commands that use them (figures: docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from osp.release import cli as release_cli
from osp.release import gate, scan

HEAVY = ("sqlalchemy", "alembic", "fastapi", "osp.app", "osp.platform", "osp.release.scan",
         "osp.release.gate", "osp.release.manifest", "cryptography", "osp.governance.engine")

PROBE = """
import json, sys
from osp.cli import app
try:
    app(sys.argv[1:], standalone_mode=False, prog_name="osp")
except BaseException:
    pass
print(json.dumps(sorted(m for m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--help"], ["tenant", "--help"], ["release", "--help"],
                                  ["approvals", "list"]])
def test_help_and_usage_errors_import_no_control_plane(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          timeout=60, check=False)
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert sorted(m for m in HEAVY if m in loaded) == []


def test_the_release_help_names_the_gates_files() -> None:
    assert (release_cli.RELEASE_TOML, release_cli.BASELINE) == (gate.RELEASE_TOML, gate.BASELINE)
    assert release_cli.ERROR == scan.ERROR
