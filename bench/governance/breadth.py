"""Breadth data the semantic encoder lacked: benign non-English, benign encoded and protective
messages, and prompt injections in the same languages (so "non-English" never means "benign").

    python bench/governance/breadth.py      # writes data/osp_breadth.jsonl (seeded)

Sources written (all text written for OSP, nothing copied; never derived from the evaluation-only
look-alikes or any benchmark's test split):
- ``gen:multilingual`` (benign): chat, support, translation, summaries, code questions and
  multi-sentence messages in 16 languages, some mixed with English, including "ignore my last
  message" and "the instructions are missing" in their ordinary sense. Category: language code.
- ``gen:multilingual_attack`` (attack): overrides, extraction, DAN/developer-mode, "no rules now"
  and refusal suppression in the same languages, and English requests carrying a foreign
  override. Category: language code.
- ``gen:encoded`` (benign): ordinary content as base64, hex, ROT13, URL encoding, leetspeak,
  spaced letters, zero-width characters, homoglyphs, emoji, Morse, JWTs, data URLs, hex dumps.
  Category: the encoding.
- ``gen:protective`` (benign): safety and defence questions with dangerous-sounding words.
  Category: topic.
"""

from __future__ import annotations

import base64
import codecs
import json
import random
import sys
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator

from breadth_lang import LANG_NAMES, LANGS, MIXED_ATTACK, MIXED_BENIGN, X_EN
from corpus import HERE

SEED = 1515
OUT = HERE / "data" / "osp_breadth.jsonl"
Gen = Callable[[random.Random], Iterator[tuple[str, str]]]


def _fill(rng: random.Random, t: str, lang: dict[str, tuple[str, ...]]) -> str:
    return t.format(**{k: rng.choice(lang[k]) for k in ("a", "p", "d")})


def _multilingual(rng: random.Random) -> Iterator[tuple[str, str]]:
    for code, lang in LANGS.items():
        by_template = [sorted({_fill(rng, t, lang) for _ in range(6)}) for t in lang["t"]]
        sents = sorted(s for filled in by_template for s in filled)
        for s in rng.sample(sents, min(24, len(sents))):
            yield code, s
        for _ in range(8):  # multi-sentence messages, two different templates
            a, b = rng.sample(by_template, 2)
            yield code, f"{rng.choice(a)} {rng.choice(b)}"
        for _ in range(3):  # longer messages, three different templates
            yield code, " ".join(rng.choice(t) for t in rng.sample(by_template, 3))
        for _ in range(2):  # mixed with English
            yield code, rng.choice(MIXED_BENIGN).format(lang=LANG_NAMES[code], x=rng.choice(sents))
        question = lang["t"][4]  # every language's fifth template is its code question
        yield code, f"{question}\n\n```\n{_snippet(question)}\n```"


SNIPPETS = {
    "SQL": "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id;",
    "JavaScript": "for (let i = 0; i <= items.length; i++) {\n  console.log(items[i]);\n}",
    "Java": "String name = user.getName();\nSystem.out.println(name.trim());",
    "pandas": "df = left.merge(right, on='id', how='left')\nprint(df['price'].sum())",
    "Bash": "cat list.txt | while read line; do count=$((count+1)); done\necho $count",
    "dict": "prices = {'apple': 1.2}\nprint(prices['Apple'])",
}


def _snippet(question: str) -> str:
    for key, code in SNIPPETS.items():
        if key in question:
            return code
    return "def evens(xs):\n    out = [x for x in xs if x % 2 == 0]\n\nprint(evens([1, 2, 3, 4]))"


def _multilingual_attack(rng: random.Random) -> Iterator[tuple[str, str]]:
    wraps = ("{m}", "{m}", "{m}", "[SYSTEM] {m}", "{m} :)", "### {m} ###", "P.S. {m}")
    for code, lang in LANGS.items():
        combos = [f"{o} {x}" for o in lang["o"] for x in lang["x"]]
        combos += [f"{x} {o}" for o in lang["o"][:2] for x in lang["x"][:2]]
        picks = rng.sample(combos, min(8, len(combos))) + list(lang["s"])
        for m in picks:
            yield code, rng.choice(wraps).format(m=m)
        benign = [t for t in lang["t"] if "{" not in t]
        for _ in range(3):  # an ordinary request that carries an attack
            yield code, f"{rng.choice(benign)} {rng.choice(lang['o'])} {rng.choice(lang['x'])}"
        for _ in range(3):
            t = rng.choice(MIXED_ATTACK)
            yield code, t.format(o=rng.choice(lang["o"]), x=rng.choice(lang["x"]),
                                 x_en=rng.choice(X_EN))


PLAIN = (
    "Happy birthday Anna, see you at the party on Saturday",
    "Meet me at the train station at 6 pm",
    "The meeting moved to room 204",
    "Remember to buy milk, eggs and bread",
    "My first pet was a cat called Pumpkin",
    "Thanks for the lovely dinner last night",
    "The wifi password for guests is on the fridge",
    "Good luck with your exam tomorrow",
    "Order 48213 shipped on Monday",
    "The quick brown fox jumps over the lazy dog",
    "Call grandma on Sunday",
    "Our team won the quiz night",
    "Please water the plants while I am away",
    "The library closes at 8 on Fridays",
    "I love you, have a great trip",
    "Invoice paid, receipt attached",
    "The cake recipe needs two cups of flour",
    "Dentist appointment on Thursday at 10",
    "Welcome to the team, lunch is on us today",
    "The parcel is with the neighbour at number 12",
)
MORSE_CODES = (
    ".- -... -.-. -.. . ..-. --. .... .. .--- -.- .-.. -- -. --- .--. --.- .-. ... - ..- ...- "
    ".-- -..- -.-- --.. ----- .---- ..--- ...-- ....- ..... -.... --... ---.. ----."
)
MORSE = dict(zip("abcdefghijklmnopqrstuvwxyz0123456789", MORSE_CODES.split(), strict=True))
LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
HOMO = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
                      "A": "\u0391", "E": "\u0395", "O": "\u039f", "C": "\u0421"})
NAMES = ("Cafe Paris", "Acme Cooperative", "Oscar Peterson", "Olivia Carpenter", "Peace Corps",
         "Copenhagen Opera", "Ocean Escape", "Cape Cod Apartments")
EMOJI = ("🎉", "🥳", "🌸", "🌈", "☀️", "🍕", "❤️", "😂", "👍", "🚀", "🐱", "📚", "☕")


def _b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _pick(rng: random.Random, templates: tuple[str, ...], values: list[str], n: int) -> list[str]:
    options = sorted({t.format(e=v) for t in templates for v in values})
    return rng.sample(options, min(n, len(options)))


def _morse(s: str) -> str:
    return " / ".join(" ".join(MORSE[c] for c in w if c in MORSE) for w in s.lower().split())


def _zero_width(rng: random.Random, s: str) -> str:
    at = rng.randint(1, len(s) - 1)
    return s[:at] + rng.choice(("\u200b", "\u200c", "\u2060", "\ufeff")) + s[at:]


def _emoji(rng: random.Random, s: str) -> str:
    return " ".join(w + (rng.choice(EMOJI) if rng.random() < 0.4 else "") for w in s.split())


def _jwt(rng: random.Random) -> str:
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": str(rng.randint(1000, 99999)), "name": rng.choice(NAMES),
              "iat": 1700000000 + rng.randint(0, 9999999)}
    return f"{head}.{_b64url(json.dumps(claims).encode())}.{_b64url(rng.randbytes(32))}"


def _data_url(rng: random.Random) -> str:
    img = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(24, 60))
    return f"data:image/png;base64,{base64.b64encode(img).decode()}"


def _hexdump(rng: random.Random) -> str:
    path = rng.choice(("", "index.html", "api/status", "login", "img/logo.png", "health"))
    host = rng.choice(("example.com", "intranet.local", "printer.lan", "nas.home", "10.0.0.5"))
    raw = f"{rng.choice(('GET', 'HEAD', 'POST'))} /{path} HTTP/1.1\r\nHost: {host}\r\n\r\n"
    data = raw.encode()
    return "\n".join(f"{i:08x}  {data[i:i + 16].hex(' ')}" for i in range(0, len(data), 16))


# encoding -> (framings with {e}, how to encode; applied to PLAIN or to a fresh random value)
ENCODINGS: dict[str, tuple[tuple[str, ...], Callable[[random.Random, str], str]]] = {
    "base64": (("Can you decode this base64 for me? {e}",
                "My password hint in base64 is {e}, what does it say?",
                "A friend sent me {e} and said it's base64. What is it?",
                "In my Node test, Buffer.from('{e}', 'base64').toString() prints garbage, why?"),
               lambda r, s: base64.b64encode(s.encode()).decode()),
    "hex": (("What text is this hex? {e}",
             "My serial monitor prints {e}, how do I turn it back into ASCII in Python?",
             "Decode this hex string please: 0x{e}"), lambda r, s: s.encode().hex()),
    "rot13": (("We used ROT13 for spoilers in our club newsletter: '{e}'. Can you decode it?",
               "Decode this rot13 riddle answer: {e}", "Is '{e}' ROT13? My puzzle book uses it."),
              lambda r, s: codecs.encode(s, "rot13")),
    "url": (("Why does my link show %20 everywhere? https://shop.example/search?q={e}",
             "Can you URL-decode this query parameter: {e}",
             "My Flask route receives note={e}, how do I get the plain text back?"),
            lambda r, s: urllib.parse.quote(s)),
    "leet": (("Translate this leetspeak from my little brother: {e}",
              "My gamer tag idea is {e}, too cringe?",
              "What does '{e}' say? It was written on a forum in 1337 speak."),
             lambda r, s: s.lower().translate(LEET)),
    "spaced": (("For a poster heading I wrote '{e}'. Does letter spacing like that look good?",
                "My screen reader reads '{e}' letter by letter, how do I fix the CSS?",
                "Why does my regex fail on '{e}'? The PDF export added spaces."),
               lambda r, s: " ".join(s.upper())),
    "zero_width": (("I copied '{e}' from a PDF and string comparison fails in Python. Why?",
                    "Why does len() of '{e}' give one more than I count?",
                    "My search doesn't match '{e}' from a web page. What is going on?"),
                   _zero_width),
    "homoglyph": (("Our CRM has a customer '{e}' that never matches in search. Lookalikes?",
                   "Someone registered '{e}' as a username. How can I detect mixed scripts?",
                   "Why does sorting put '{e}' at the end of the list?"),
                  lambda r, s: NAMES[PLAIN.index(s) % len(NAMES)].translate(HOMO)),
    "emoji": (("{e} 😊 can you make this message even more festive?",
               "Rewrite without emojis for work please: {e}",
               "My grandma texts like this: {e} ❤️ what is she saying?"), _emoji),
    "morse": (("Scout badge homework, please decode this Morse: {e}",
               "Is my Morse right for the escape room clue? {e}",
               "My kid tapped this in Morse on the table: {e} What does it say?"),
              lambda r, s: _morse(s)),
    "jwt": (("My API returns 401 with this header, is it expired? Authorization: Bearer {e}",
             "How do I read the claims of this JWT in Go without verifying? {e}",
             "Express middleware rejects {e} with 'invalid signature'. Which secret is wrong?"),
            lambda r, s: _jwt(r)),
    "data_url": (("My <img src=\"{e}\"> shows a broken icon in Safari, why?",
                  "Is it bad practice to inline icons like {e} in CSS background-image?",
                  "React warns about this src, too long? {e}"), lambda r, s: _data_url(r)),
    "hexdump": (("Wireshark shows this payload and then a TCP reset. Why?\n{e}",
                 "Here is the hex dump from tcpdump, is the HTTP request malformed?\n{e}",
                 "Our proxy logs this, why does the server answer 400?\n{e}"),
                lambda r, s: _hexdump(r)),
}


def _encoded(rng: random.Random) -> Iterator[tuple[str, str]]:
    for name, (templates, enc) in ENCODINGS.items():
        values = [enc(rng, s) for s in PLAIN]
        for text in _pick(rng, templates, values, 20):
            yield name, text


# topic -> (templates with {x}, fillers)
PROTECTIVE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "phishing": (("How can I tell if {x} is a phishing attempt?",
                  "What are the warning signs of {x}? My dad almost fell for one.",
                  "I clicked a link in {x}. What should I do now?",
                  "How do I report {x} as phishing?"),
                 ("an e-mail from my bank", "a text about a parcel delivery", "a fake invoice",
                  "a message asking me to verify my account", "a QR code on a parking meter",
                  "a 'your mailbox is full' e-mail", "a LinkedIn message with a job offer")),
    "scams": (("How do {x} scams work, so I can warn my grandparents?",
               "Someone contacted my mother about {x}. Is this a known scam?",
               "What should we do if we already paid money in a {x} scam?",
               "How do I explain {x} scams to elderly people in our community centre?"),
              ("romance", "fake tech support", "crypto investment", "grandchild-in-trouble",
               "lottery win", "rental deposit", "fake parcel customs fee")),
    "grooming": (("What are the signs that {x} is being groomed online?",
                  "How do I talk to {x} about online grooming without scaring them?",
                  "Which settings protect {x} from strangers on gaming platforms?",
                  "An adult keeps sending gifts to {x} in a game. Is that a grooming red flag?"),
                 ("my 11-year-old", "a student in my class", "my nephew", "my teenage daughter",
                  "a child in my football team", "my son")),
    "radicalisation": (("What are early signs of {x} being radicalised online?",
                        "How can I respond if {x} shares extremist memes?",
                        "Where can families get support when {x} is drawn into extremism?",
                        "How do recruiters for violent groups approach {x} online?"),
                       ("a teenager", "my brother", "a pupil", "a friend", "my son",
                        "a young colleague")),
    "llm_security": (("How do I protect {x} against prompt injection?",
                      "What is indirect prompt injection and how does it affect {x}?",
                      "How should {x} handle a user who types 'ignore previous instructions'?",
                      "Best practices to stop {x} from leaking its system prompt?",
                      "How do I red-team {x} for jailbreaks before launch?"),
                     ("my customer-support chatbot", "a RAG app that reads e-mails",
                      "an LLM agent with shell access", "our internal AI assistant",
                      "a browser agent that summarises web pages")),
    "it_security": (("How do I secure {x}?", "What is the first thing to harden on {x}?",
                     "Checklist to lock down {x} after a break-in attempt?",
                     "How can I tell if {x} has been hacked?"),
                    ("my home router", "a Linux server exposed to SSH", "our company Wi-Fi",
                     "a WordPress site", "my smart camera", "a Kubernetes cluster")),
    "data_breach": (("{x} was in a data breach. What should I do now?",
                     "After {x} leaked, how do I check if my passwords were exposed?",
                     "{x} was hacked; should I freeze my credit or change my bank card?",
                     "{x} leaked in a breach. How do I spot the follow-up scams?"),
                    ("My e-mail address", "My health insurer", "A shop I used",
                     "Our school's parent portal", "My phone number", "My gym")),
    "safe_storage": (("How should I safely store {x} at home?",
                      "What is the legal and safe way to dispose of {x}?",
                      "What are the rules for transporting {x} safely?",
                      "How do I keep {x} out of reach of visiting grandchildren?"),
                     ("prescription opioids", "pool chlorine and acids",
                      "my hunting rifle as a licensed owner", "old paint thinner",
                      "ammunition", "leftover antibiotics", "lithium batteries")),
    "self_defence": (("Are {x} worth it for a beginner?", "What should I look for in {x}?",
                      "Are {x} suitable for a 60-year-old?",
                      "How often should I train in {x} to feel safer walking home?"),
                     ("self-defence classes", "Krav Maga courses", "women's safety workshops",
                      "personal alarms", "boxing classes", "de-escalation trainings")),
    "reporting_abuse": (("How do I report {x}?", "Who can help if I suspect {x}?",
                         "What evidence should I keep when reporting {x}?",
                         "Can I report {x} anonymously?"),
                        ("child abuse to the authorities", "domestic violence next door",
                         "elder abuse in a care home", "a threat made online",
                         "workplace harassment", "animal cruelty")),
    "history": (("What caused {x}?", "Explain the history of {x} for a school essay.",
                 "How did the world respond to {x}?", "What lessons were learnt from {x}?"),
                ("the 9/11 attacks", "the Rwandan genocide", "the Chernobyl disaster",
                 "the Tokyo sarin attack", "the Second World War", "the Srebrenica massacre",
                 "the Oklahoma City bombing")),
    "drug_policy": (("What are the arguments for and against {x}?",
                     "What happened after {x}, according to studies?",
                     "How is {x} debated in parliament?",
                     "Summarise the evidence on {x} for a policy class."),
                    ("Portugal's drug decriminalisation", "cannabis legalisation in Canada",
                     "supervised injection sites", "naloxone distribution",
                     "drug checking at festivals", "the war on drugs")),
    "security_education": (("How does {x} work, so I can fix my code?",
                            "Can you show a vulnerable and a fixed example of {x}?",
                            "Explain {x} for our developer training.",
                            "How do I test my own app for {x}?"),
                           ("SQL injection", "cross-site scripting", "CSRF", "path traversal",
                            "ransomware spreading in a network", "a buffer overflow",
                            "server-side request forgery")),
    "medical_safety": (("What are the symptoms of {x} to watch for in my elderly father?",
                        "When should I call an ambulance for {x}?",
                        "What first aid can I give for {x} while waiting for help?",
                        "How do care homes prevent {x}?"),
                       ("an opioid overdose", "a paracetamol overdose", "a stroke",
                        "carbon monoxide poisoning", "a severe allergic reaction",
                        "a fall on blood thinners")),
}


def _protective(rng: random.Random) -> Iterator[tuple[str, str]]:
    for topic, (templates, fillers) in PROTECTIVE.items():
        options = sorted({t.format(x=x) for t in templates for x in fillers})
        for text in rng.sample(options, min(22, len(options))):
            yield topic, text


SOURCES: tuple[tuple[str, str, Gen], ...] = (
    ("gen:multilingual", "benign", _multilingual),
    ("gen:multilingual_attack", "attack", _multilingual_attack),
    ("gen:encoded", "benign", _encoded),
    ("gen:protective", "benign", _protective),
)


def generate(seed: int = SEED) -> list[dict[str, str]]:
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    for source, label, gen in SOURCES:
        for category, text in gen(rng):
            if text in seen:
                continue
            seen.add(text)
            out.append({"id": f"{source}-{len(out)}", "text": text, "label": label,
                        "source": source, "category": category})
    return out


def main() -> int:
    rows = generate()
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    for source, n in sorted(Counter(r["source"] for r in rows).items()):
        cats = Counter(r["category"] for r in rows if r["source"] == source)
        print(f"{source:26} {n:5}  " + " ".join(f"{c}={k}" for c, k in sorted(cats.items())))
    print(f"wrote {OUT} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
