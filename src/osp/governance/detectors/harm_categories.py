"""Which kind of harm a flagged request is about, so a tenant's policy can treat kinds apart.

The moderation heads answer "is this a request for serious harm?"; this module answers "about
what?", after the fact, for the decision and its audit record. Categories follow the hazard
groups of the MLCommons AILuminate taxonomy (violent crimes, weapons of mass harm, child sexual
exploitation, sex crimes, self-harm, hate, privacy, ...), with cybercrime, fraud and drugs split
out of "non-violent crimes" because those are the ones tenants ask to allow (security teaching,
anti-fraud training, harm-reduction services). Matching is on word stems, first category wins in
``CATEGORIES`` order (the most severe first); a flagged text matching none is ``other``.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

HarmCategory = Literal[
    "sexual_minors",
    "weapons",
    "violence",
    "self_harm",
    "sexual",
    "cybercrime",
    "fraud",
    "drugs",
    "hate",
    "harassment",
    "privacy",
    "misinformation",
    "other",
]
CATEGORIES: tuple[str, ...] = get_args(HarmCategory)
# Never allowable by a tenant policy: there is no legitimate use the platform serves.
NEVER_ALLOWED: frozenset[str] = frozenset({"sexual_minors"})

_W = r"\b(?:{})"
_PATTERNS: dict[str, str] = {
    "sexual_minors": r"(?:child|minor|underage|preteen|teen|kid|pre-?pubescent|loli)s?\b[^.!?\n]"
    r"{0,40}\b(?:sex|porn|nude|naked|erotic|groom)|\bgroom(?:ing)? (?:a |the )?(?:child|minor|kid)"
    r"|\bcsam\b",
    "weapons": r"bombs?|explosiv|\bieds?\b|detonat|nerve agent|sarin|\bvx\b|ricin|anthrax|"
    r"bioweapon|chemical weapon|pathogen|napalm|thermite|\bguns?\b|firearm|rifle|ammunition|"
    r"nuclear|radiolog|uranium|toxin|poison gas|weapon",
    "violence": r"kill|murder|assassinat|stab|shoot|kidnap|tortur|strangl|attack (?:on|a)|"
    r"assault|beat (?:up|someone)|hurt (?:someone|him|her|people)|terror|massacre|poison",
    "self_harm": r"suicide|kill myself|end my life|self[- ]harm|cut myself|hang myself|overdose|"
    r"starve myself|anorexi|bulimi",
    "sexual": r"\bsex\b|sexual|porn|\bnude|naked|erotic|rape|prostitut|escort|sextort|"
    r"explicit",
    "cybercrime": r"hack|malware|ransomware|keylogger|botnet|rootkit|exploit|phishing|ddos|"
    r"sql injection|backdoor|trojan|virus|crack (?:a |the )?password|brute.?force|spyware|"
    r"steal (?:\w+ )?(?:passwords?|credentials|logins?)",
    "fraud": r"fraud|scam|launder|counterfeit|forge|forgery|embezzl|ponzi|tax evasion|"
    r"identity theft|stolen (?:credit )?cards?|credit card numbers|insider trading|bribe|"
    r"shoplift|steal|theft|rob\b|robbery|burglar|blackmail|extort",
    "drugs": r"meth|cocaine|heroin|fentanyl|\bdrugs?\b|opioid|\blsd\b|mdma|ecstasy|cannabis|"
    r"marijuana|narcotic|smuggl",
    "hate": r"racis|nazi|white (?:power|supremac)|ethnic cleansing|genocide|slur|inferior race|"
    r"hate speech|antisemit|islamophob|homophob|transphob|xenophob",
    "harassment": r"harass|stalk|bully|bullying|threaten|intimidat|humiliat|revenge porn|"
    r"doxx?|troll",
    "privacy": r"home address|social security number|\bssn\b|personal (?:data|information)|"
    r"track (?:someone|my|her|his)|spy on|surveil|location of|phone number of|private (?:messages|"
    r"photos)|without (?:their|her|his) (?:knowledge|consent)",
    "misinformation": r"fake news|misinformation|disinformation|propaganda|conspiracy|hoax|"
    r"defam|false (?:story|claim|rumou?r)|rig (?:the|an) election|election fraud|deepfake",
}
# Self-harm before violence ("how do I kill myself" is about the asker) and misinformation
# before both ("a fake story that the vaccine killed thousands" asks for a lie, not a killing).
_FIRST = ("sexual_minors", "self_harm", "misinformation")
_MATCH_ORDER = (*_FIRST, *(c for c in CATEGORIES[:-1] if c not in _FIRST))
_COMPILED = {c: re.compile(_W.format(p), re.IGNORECASE) for c, p in _PATTERNS.items()}


def categorise(text: str, hint: str | None = None) -> str:
    """The harm category of a flagged text. ``hint`` (a rule's own category, when a rule fired)
    wins if it is a known category; otherwise the first matching category, else ``other``."""
    if hint in CATEGORIES:
        return hint
    for category in _MATCH_ORDER:
        if _COMPILED[category].search(text):
            return category
    return "other"
