"""The retrieval rail's detector (`osp.governance.rails.retrieval.injection`) on planted and
clean documents: how many are flagged (score >= the default threshold, or a hidden-text tag).

    OSP_GUARD_DATA=<dev data> .venv/bin/python bench/governance/bench_retrieval.py

Sets, and what each is for:
- dev:reader_docs: clean documents of reader-addressed imperatives (reader_docs.py), the set
  the rail's rules were developed against;
- osp:indirect and BIPIA attacks planted in BIPIA e-mails: planted instructions (recall);
- clean e-mails and docs of the corpus;
- the look-alike documents (lookalikes.py): EVALUATION ONLY, nothing was developed on them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_detection import _bipia_planted  # noqa: E402
from corpus import RETRIEVAL_ATTACK_SOURCES, load_all  # noqa: E402
from reader_docs import build  # noqa: E402

from osp.governance.detectors.linear import ModelStore  # noqa: E402
from osp.governance.policy import Thresholds  # noqa: E402
from osp.governance.rails.retrieval.injection import retrieval_classifier  # noqa: E402


def main() -> None:
    clf = retrieval_classifier(ModelStore())
    threshold = Thresholds().retrieval_injection
    rows = load_all()
    lookalike_docs = [json.loads(line) for line in
                      (HERE / "data" / "osp_lookalikes.jsonl").read_text().splitlines()]
    sets: dict[str, list[str]] = {
        "dev:reader_docs (clean, dev)": [r["text"] for r in build()],
        "osp:indirect (planted)": [r.text for r in rows
                                   if r.source in RETRIEVAL_ATTACK_SOURCES],
        "BIPIA attacks planted in BIPIA e-mails": [r.text for r in _bipia_planted(rows)],
        "dev:bipia_email (clean)": [r.text for r in rows if r.source == "dev:bipia_email"],
        "osp:email (clean)": [r.text for r in rows if r.source == "osp:email"],
        "osp:docs (clean)": [r.text for r in rows if r.source == "osp:docs"],
        "look-alike documents (clean, evaluation only)": [
            r["text"] for r in lookalike_docs if r["stage"] == "retrieval"],
    }
    print(f"| set | n | flagged (threshold {threshold}) |")
    print("|---|---:|---:|")
    for name, texts in sets.items():
        flagged = 0
        for text in texts:
            v = clf.classify(text)
            flagged += v.score >= threshold or bool(v.normalized.tags)
        print(f"| {name} | {len(texts)} | {flagged / max(1, len(texts)):.3f} |")


if __name__ == "__main__":
    main()
