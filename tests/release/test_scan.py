"""The leak scan: planted credentials (generated at run time), branding, the allow-list."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from osp.cli import app
from osp.release import rules
from osp.release.build import BuildContext, BuildRefused
from osp.release.gate import ScanGate
from osp.release.scan import ERROR, FINDINGS, load_baseline, scan_tree
from tests import fakes

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def cli_scan(*args: str) -> Any:
    return runner.invoke(app, ["release", "scan", *args])


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small source tree: a copy of the release package and the repo's CI baseline."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "src/osp/release", root / "src/osp/release",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_planted_credential_fails_the_ci_scan_and_is_never_printed(tree: Path) -> None:
    assert cli_scan(str(tree)).exit_code == 0
    token = fakes.github_token()
    key = fakes.aws_access_key()
    (tree / "src/osp/release/settings_local.py").write_text(
        f'"""Local settings."""\n\nDEPLOY = "{token}"\nAWS_ID = "{key}"\n')
    result = cli_scan(str(tree))
    assert result.exit_code == FINDINGS
    assert "src/osp/release/settings_local.py:3:" in result.output
    assert "src/osp/release/settings_local.py:4:" in result.output
    assert "GitHubTokenDetector" in result.output or "github_token" in result.output
    # Masked: neither the value nor a recognisable part of it reaches the output.
    assert token not in result.output and token[8:20] not in result.output
    assert key not in result.output and key[8:] not in result.output


@pytest.mark.parametrize("name", [".env", "deploy.pem", "id_ed25519"])
def test_secret_files_are_findings_whatever_their_content(tree: Path, name: str) -> None:
    (tree / name).write_text("harmless\n")
    result = cli_scan(str(tree))
    assert result.exit_code == FINDINGS
    assert f"{name}:0: file:" in result.output


def test_model_keys_private_keys_and_random_assignments_are_found(tmp_path: Path) -> None:
    secret = fakes.openai_key()
    random_value = "Zq8" + fakes.github_token()[8:30]
    (tmp_path / "a.py").write_text(f'client_secret = "{random_value}"\nKEY = "{secret}"\n'
                                   'TOKEN_NAME = "TELEGRAM_WEBHOOK_SECRET"\n'
                                   'password = "changeme-changeme"\n')
    (tmp_path / "b.txt").write_text(fakes.private_key_block() + "\n")
    found = {(f.path, f.line, f.rule.split(":")[0]) for f in scan_tree(tmp_path).findings}
    assert ("a.py", 1, "osp") in found  # entropy on the assignment
    assert any(p == "a.py" and line == 2 for p, line, _ in found)  # openai key
    assert not any(p == "a.py" and line in (3, 4) for p, line, _ in found)  # names, words
    assert any(p == "b.txt" for p, _line, _ in found)


def test_a_branding_word_is_a_finding(tree: Path) -> None:
    (tree / "release.toml").write_text('[branding]\nwords = ["Globex"]\n'
                                       'regexes = ["project[-_ ]?falcon"]\n'
                                       'globs = ["*.psd"]\n')
    assert cli_scan(str(tree)).exit_code == 0
    (tree / "src/osp/release/about.txt").write_text("Built for GLOBEX.\nsee Project_Falcon\n")
    (tree / "art.psd").write_bytes(b"\0\1")
    result = cli_scan(str(tree))
    assert result.exit_code == FINDINGS
    assert "about.txt:1: brand:word: Built for [G***]." in result.output
    assert "about.txt:2: brand:word" in result.output
    assert "art.psd:0: brand:glob:*.psd" in result.output
    assert "GLOBEX" not in result.output


def test_the_allow_list_suppresses_exactly_one_finding_and_reports_stale_entries(
        tmp_path: Path) -> None:
    first, second = fakes.github_token(), fakes.github_token()
    (tmp_path / "fixture.py").write_text(f'A = "{first}"\nB = "{second}"\n')
    report = scan_tree(tmp_path)
    assert len(report.findings) == 2
    allowed = report.findings[0]
    baseline = tmp_path / "baseline.toml"
    baseline.write_text(
        "[[allow]]\n"
        f'path = "{allowed.path}"\nrule = "{allowed.rule}"\n'
        f'fingerprint = "{allowed.fingerprint}"\nreason = "test fixture"\n\n'
        '[[allow]]\npath = "gone.py"\nrule = "ds:AWSKeyDetector"\n'
        'fingerprint = "0123456789abcdef"\nreason = "removed long ago"\n')
    report = scan_tree(tmp_path, baseline=load_baseline(baseline))
    assert [f.fingerprint for f in report.suppressed] == [allowed.fingerprint]
    assert len(report.findings) == 1 and report.findings[0].fingerprint != allowed.fingerprint
    assert [e.path for e in report.stale] == ["gone.py"]
    result = cli_scan(str(tmp_path), "--baseline", str(baseline))
    assert result.exit_code == FINDINGS
    assert "stale allow-list entry: gone.py" in result.output
    assert "1 allowed, 1 stale" in result.output


def test_an_allow_entry_without_a_reason_cannot_scan(tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.toml"
    baseline.write_text('[[allow]]\npath = "x"\nrule = "y"\nfingerprint = "z"\nreason = ""\n')
    result = cli_scan(str(tmp_path), "--baseline", str(baseline))
    assert result.exit_code == ERROR
    assert "lacks reason" in result.output


def test_bad_input_could_not_scan(tmp_path: Path) -> None:
    assert cli_scan(str(tmp_path / "missing")).exit_code == ERROR
    (tmp_path / "release.toml").write_text('[branding]\nregexes = ["(unclosed"]\n')
    assert cli_scan(str(tmp_path)).exit_code == ERROR
    assert cli_scan().exit_code == ERROR


def test_a_scanner_failure_refuses_the_build(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail closed: a scanner that cannot load its rules is a refusal, never a pass."""
    def broken() -> tuple[Any, ...]:
        raise RuntimeError("plugins failed to load")

    monkeypatch.setattr(rules, "_plugins", broken)
    (tmp_path / "x.txt").write_text("hello\n")
    with pytest.raises(BuildRefused, match="could not scan"):
        ScanGate()(BuildContext(tmp_path, "0", "0"))


def test_osp_tokens_count_but_metric_names_do_not(tmp_path: Path) -> None:
    import secrets

    token = "osps_acme_" + secrets.token_urlsafe(32)
    (tmp_path / "m.py").write_text('H = Histogram("osp_http_request_duration_seconds")\n'
                                   f'T = "{token}"\n')
    assert [(f.line, f.rule) for f in scan_tree(tmp_path).findings] == [(2, "osp:osp_token")]
