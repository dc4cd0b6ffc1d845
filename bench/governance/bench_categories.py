"""How often the harm category a decision reports matches the category a source gives its rows.

    python bench/governance/bench_categories.py

AILuminate rows carry a hazard code and HarmBench rows a semantic category; each is mapped to the
category OSP should report (``EXPECTED``; codes without a counterpart are skipped). Prints, per
upstream category, the share of rows `harm_categories.categorise` puts in the expected category
and its most common other answers. Regex only: no model, runs in seconds.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

from corpus import load_all

from osp.governance.detectors.harm_categories import categorise
from osp.governance.detectors.normalize import normalize

EXPECTED = {
    # AILuminate hazard codes
    "vcr": "violence",
    "iwp": "weapons",
    "cse": "sexual_minors",
    "src": "sexual",
    "sxc_prn": "sexual",
    "ssh": "self_harm",
    "hte": "hate",
    "prv": "privacy",
    "dfm": "misinformation",
    # HarmBench semantic categories
    "chemical_biological": "weapons",
    "cybercrime_intrusion": "cybercrime",
    "harassment_bullying": "harassment",
    "misinformation_disinformation": "misinformation",
}


def main() -> int:
    rows = [r for r in load_all() if r.label == "harmful" and r.category in EXPECTED]
    by: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by[r.category].append(categorise(normalize(r.text).text))
    print("| upstream category | expected | n | matched | other answers |")
    print("|---|---|---:|---:|---|")
    hit = total = 0
    for cat in sorted(by):
        got = Counter(by[cat])
        want = EXPECTED[cat]
        n = len(by[cat])
        hit += got[want]
        total += n
        others = ", ".join(f"{c} {k}" for c, k in got.most_common(3) if c != want)
        print(f"| {cat} | {want} | {n} | {got[want] / n:.2f} | {others} |")
    print(f"\noverall: {hit}/{total} = {hit / total:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
