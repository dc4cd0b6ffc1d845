"""The benign look-alike evaluation set (bench/governance/lookalikes.py) is reproducible: the
seeded generator rebuilds the committed file byte for byte, so the false-positive figures in
docs/benchmarks.md can be re-measured on exactly the same texts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "bench" / "governance" / "data" / "osp_lookalikes.jsonl"
FAMILIES = {"hijack", "system_prompt", "roleplay_fiction", "persona", "encoded", "multilingual",
            "many_shot", "sensitive_topic", "document"}


def test_the_generator_rebuilds_the_committed_set(tmp_path: Path) -> None:
    out = tmp_path / "lookalikes.jsonl"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "governance" / "lookalikes.py"), "--out", str(out)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_bytes() == COMMITTED.read_bytes()
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["family"] for r in rows} == FAMILIES
    assert all(r["label"] == "benign" for r in rows)
    assert len({r["text"] for r in rows}) == len(rows)
