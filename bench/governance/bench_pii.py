"""PII precision/recall per entity on Faker-generated messages, OSP vs Presidio's analyzer.

    python bench/governance/bench_pii.py [--n 400]

Each message embeds 0-2 entities in a sentence plus distractors (order numbers, dates, prices,
versions, ZIP codes) that must not be flagged. A prediction counts as a true positive when its
entity type matches and its span overlaps the planted span.

Presidio runs with its default pattern recognisers but no spaCy model (NoOpNlpEngine), because
the default `en_core_web_lg` model is a run-time download; its e-mail recogniser's tldextract is
pointed at the bundled suffix snapshot. Presidio is skipped with a message when absent.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable

from osp.governance.detectors.pii import find_pii

ENTITIES = ("US_SSN", "CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE")
Span = tuple[str, int, int]

_TEMPLATES = {
    "US_SSN": [
        "My SSN is {v}.",
        "social security number: {v}",
        "SSN {v} for the W-2 form",
        "Please update my record, ssn {v}, thanks",
    ],
    "CREDIT_CARD": [
        "Charge it to my card {v} please",
        "card number {v} exp 09/28",
        "I paid with {v} yesterday",
        "Visa: {v}",
    ],
    "EMAIL_ADDRESS": [
        "Email me at {v}",
        "Contact: {v}",
        "send the invoice to {v} by Friday",
        "my address is {v}.",
    ],
    "PHONE_NUMBER": [
        "Call me on {v}",
        "my phone is {v}",
        "You can reach our office at {v}.",
        "Phone: {v}",
        "text {v} when you arrive",
    ],
    "IBAN_CODE": [
        "Please wire it to {v}",
        "IBAN: {v}",
        "Our bank account is {v}.",
        "transfer to {v} before the 5th",
    ],
}
_DISTRACTORS = [
    "Order #{order} shipped on {date}.",
    "It costs ${price} plus tax.",
    "Upgrade to version {ver} first.",
    "Our ZIP code is {zip}.",
    "The meeting is at {time} in room {room}.",
    "Ticket {ticket} was closed.",
    "We sold {qty} units in {year}.",
]


TUNED_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL")
UNSEEN_LOCALES = ("en_US", "en_CA", "en_AU", "it_IT", "es_ES", "pl_PL")


def make_samples(
    n: int, seed: int = 11, locales: tuple[str, ...] = TUNED_LOCALES
) -> list[tuple[str, list[Span]]]:
    from faker import Faker

    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in locales}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    us = fakers["en_US"]

    def value(entity: str) -> str:
        if entity == "US_SSN":
            return us.ssn()
        if entity == "CREDIT_CARD":
            num = us.credit_card_number()
            style = rng.random()
            if style < 0.3 and len(num) == 16:
                return " ".join(num[i : i + 4] for i in range(0, 16, 4))
            if style < 0.45 and len(num) == 16:
                return "-".join(num[i : i + 4] for i in range(0, 16, 4))
            return num
        if entity == "EMAIL_ADDRESS":
            return rng.choice([us.email(), us.company_email(), us.free_email()])
        if entity == "PHONE_NUMBER":
            loc = "en_US" if rng.random() < 0.5 else rng.choice(locales)
            return fakers[loc].phone_number()
        iban = fakers[rng.choice(list(fakers))].iban()
        if rng.random() < 0.5:
            iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    samples = []
    for _ in range(n):
        parts: list[str] = []
        spans: list[Span] = []
        text = ""
        for _ in range(rng.choice([0, 1, 1, 2])):
            entity = rng.choice(ENTITIES)
            v = value(entity)
            tpl = rng.choice(_TEMPLATES[entity])
            prefix = text + (" " if text else "")
            start = len(prefix) + tpl.index("{v}")
            text = prefix + tpl.format(v=v)
            spans.append((entity, start, start + len(v)))
        distractor = rng.choice(_DISTRACTORS).format(
            order=us.random_number(digits=8),
            date=us.date(),
            price=us.pricetag().strip("$"),
            ver=f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
            zip=us.zipcode(),
            time=us.time(pattern="%H:%M"),
            room=rng.randint(100, 999),
            ticket=us.bothify("??-#####").upper(),
            qty=rng.randint(1000, 99999),
            year=us.year(),
        )
        text = (text + " " + distractor).strip() if rng.random() < 0.7 else text or distractor
        parts.append(text)
        samples.append((text, spans))
    return samples


def osp_predict(text: str) -> list[Span]:
    return [(f.entity, f.start, f.end) for f in find_pii(text, ENTITIES)]


def presidio_predictor() -> Callable[[str], list[Span]] | None:
    try:
        import tldextract
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
    except ImportError:
        print("presidio-analyzer not installed: skipping the Presidio column")
        return None
    import importlib

    # No network: the e-mail recogniser's tldextract uses the bundled public-suffix snapshot.
    import types

    offline = types.SimpleNamespace(
        extract=tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    )
    for modname in (
        "presidio_analyzer.predefined_recognizers.generic.email_recognizer",
        "presidio_analyzer.predefined_recognizers.email_recognizer",
    ):
        try:
            importlib.import_module(modname).tldextract = offline  # type: ignore[attr-defined]
        except ImportError:
            continue
    try:
        from presidio_analyzer.nlp_engine import NoOpNlpEngine
    except ImportError:
        print("presidio has no NoOpNlpEngine: skipping the Presidio column")
        return None
    nlp: NlpEngine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    _ = NlpArtifacts

    def predict(text: str) -> list[Span]:
        res = engine.analyze(text, language="en", entities=list(ENTITIES))
        return [(r.entity_type, r.start, r.end) for r in res if r.score >= 0.3]

    return predict


def score(
    samples: list[tuple[str, list[Span]]], predict: Callable[[str], list[Span]]
) -> tuple[dict[str, tuple[int, int, int]], float]:
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    t0 = time.perf_counter()
    preds = [predict(text) for text, _ in samples]
    per_msg_ms = (time.perf_counter() - t0) / len(samples) * 1000
    for (_, gold), pred in zip(samples, preds, strict=True):
        used: set[int] = set()
        for g in gold:
            hit = next(
                (
                    i
                    for i, p in enumerate(pred)
                    if i not in used and p[0] == g[0] and p[1] < g[2] and g[1] < p[2]
                ),
                None,
            )
            if hit is None:
                fn[g[0]] += 1
            else:
                used.add(hit)
                tp[g[0]] += 1
        for i, p in enumerate(pred):
            if i not in used and p[0] in ENTITIES:
                fp[p[0]] += 1
    return {e: (tp[e], fp[e], fn[e]) for e in ENTITIES}, per_msg_ms


def _pr(t: tuple[int, int, int]) -> tuple[float, float]:
    tp, fp, fn = t
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2026, help="11 is the seed the rules were tuned on")
    ap.add_argument(
        "--unseen-locales",
        action="store_true",
        help=f"phones/IBANs from {', '.join(UNSEEN_LOCALES)} (not tuned on)",
    )
    args = ap.parse_args()
    locales = UNSEEN_LOCALES if args.unseen_locales else TUNED_LOCALES
    try:
        samples = make_samples(args.n, args.seed, locales)
    except ImportError:
        print("faker not installed: skipping the PII benchmark (pip install faker)")
        return 0
    systems: dict[str, Callable[[str], list[Span]]] = {"OSP": osp_predict}
    presidio = presidio_predictor()
    if presidio:
        systems["Presidio (patterns, no NLP)"] = presidio
    n_ent = sum(len(s) for _, s in samples)
    print(
        f"PII: {len(samples)} Faker messages (seed {args.seed}, locales {', '.join(locales)}), "
        f"{n_ent} planted entities\n"
    )
    print(f"| entity | {' | '.join(f'{s} P | {s} R' for s in systems)} |")
    print("|---|" + "---:|" * (2 * len(systems)))
    results = {name: score(samples, fn) for name, fn in systems.items()}
    for e in ENTITIES:
        cells = []
        for name in systems:
            p, r = _pr(results[name][0][e])
            cells += [f"{p:.3f}", f"{r:.3f}"]
        print(f"| {e} | {' | '.join(cells)} |")
    print()
    for name in systems:
        print(f"{name}: {results[name][1]:.3f} ms per message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
