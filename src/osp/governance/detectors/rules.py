"""Hand-written patterns that back up the linear models on normalised (lower-cased) text.

Each rule carries a score; a text's rule score is the highest matching rule's. Patterns require
an instruction-override *shape* ("ignore ... previous ... instructions"), not a single word, so
"how do I ignore a file in git" or "what does jailbreak mean for iPhones" do not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    category: str
    score: float
    pattern: re.Pattern[str]
    # Literal words one of which must occur for the pattern to match at all (its leading
    # alternation); checked with `in` first, which is several times cheaper than the regex.
    needles: tuple[str, ...] = ()


_LEAD = re.compile(r"^(?:\\b)?\(\?:((?:[a-z' ]+\|)*[a-z' ]+)\)(?![?*{])")


def _top_level_alternation(pattern: str) -> bool:
    depth, i, in_class = 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return True
        i += 1
    return False


_LEAD_LITERAL = re.compile(r"^(?:\\b)?([a-z' ]+)")


def needles_of(pattern: str) -> tuple[str, ...]:
    """Literal words one of which any match must contain: the pattern's leading alternation of
    plain words, or its leading literal. Empty when there is no such simple prefix."""
    if _top_level_alternation(pattern):
        return ()
    m = _LEAD.match(pattern)
    if m is not None:
        return tuple(m.group(1).split("|"))
    lit = _LEAD_LITERAL.match(pattern)
    if lit is None:
        return ()
    run = lit.group(1)
    if pattern[lit.end() : lit.end() + 1] in ("?", "*", "{"):
        run = run[:-1]  # the quantifier makes the last character optional
    return (run,) if len(run) >= 3 else ()


# Hand-given needles for rules whose prefix is not a plain alternation: each tuple lists
# substrings one of which every match contains (tests check this against the corpus).
_NEEDLES: dict[str, tuple[str, ...]] = {
    "mode_switch": (" mode",),
    "ai_special_mode": (" mode",),
    "do_anything_now": ("anything now", "dan"),
    "unfiltered_persona": ("you", "act", "pretend", "roleplay", "role-play", "simulate"),
    "policy_bypass": ("polic", "guidelines", "filter", "rules"),
    "dual_answer_tags": ("[",),
    "no_rules_subject": (" no ",),
    "token_game": ("tokens",),
    "moral_no_matter": ("no matter how", "even if", "regardless of how", "however"),
    "stay_in_character": ("character",),
    "override_fr": ("ignore", "oublie"),
}


def _r(name: str, category: str, score: float, pattern: str) -> Rule:
    needles = _NEEDLES.get(name) or needles_of(pattern)
    return Rule(name, category, score, re.compile(pattern), needles)


_OVERRIDE_VERB = r"(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|discard|neglect)"
_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|all|any|your|the|these|those|initial|original|"
    r"system|my|every|other)"
)
_RULE_NOUN = (
    r"(?:instructions?|prompts?|rules?|directives?|guidelines?|constraints?|restrictions?|"
    r"programming|policies|polic[yi]|guardrails?|filters?|safeguards?)"
)

INJECTION_RULES: tuple[Rule, ...] = (
    _r(
        "override_instructions",
        "prompt_injection",
        0.95,
        rf"\b{_OVERRIDE_VERB}\b[^.!?\n]{{0,40}}\b{_PRIOR}\b[^.!?\n]{{0,30}}\b{_RULE_NOUN}",
    ),
    _r(
        "new_instructions",
        "prompt_injection",
        0.8,
        r"\b(?:new|updated|real|actual|secret) (?:instructions?|task|directive)s?\s*:",
    ),
    _r(
        "reveal_prompt",
        "prompt_injection",
        0.9,
        r"\b(?:reveal|show|print|output|repeat|display|leak|tell me|spell out|write down)\b"
        r"[^.!?\n]{0,30}"
        r"\b(?:system prompt|initial prompt|hidden (?:instructions|prompt)|your (?:instructions|"
        r"system message|initial instructions|prompt)|the (?:password|secret key))",
    ),
    _r(
        "mode_switch",
        "jailbreak",
        0.9,
        # "developer mode" and "god mode" are real phone/OS features: only the switched-on form.
        r"\b(?:(?:unrestricted|jailbreak|jailbroken|dan|evil|chaos|opposite|unfiltered|uncensored)"
        r" mode\b|(?:developer|god|sudo) mode (?:enabled|activated|output|is (?:now )?on)\b)",
    ),
    _r("do_anything_now", "jailbreak", 0.95, r"\bdo anything now\b|\bdan\b[^.\n]{0,40}\bjailbr"),
    _r(
        "unfiltered_persona",
        "jailbreak",
        0.85,
        r"\b(?:you are|you're|act as|acting as|pretend (?:to be|you are)|roleplay as|role-play as|"
        r"from now on,? you(?: are| will be)?|simulate)\b[^.!?\n]{0,60}\b(?:unfiltered|uncensored|"
        r"unrestricted|amoral|unethical|jailbroken|no (?:rules|restrictions|limits|filters|"
        r"guidelines|ethics|morals|boundaries))",
    ),
    _r(
        "no_restrictions",
        "jailbreak",
        0.7,
        r"\b(?:without|free of|free from|not bound by|no longer bound by|break free of|"
        r"have broken free of)\b[^.!?\n]{0,25}\b(?:any |all |the )?(?:restrictions|filters|"
        r"censorship|limitations|ethical|moral|guidelines|content polic|openai|rules)"
        r"(?! on\b| for\b| of (?:the )?(?:budget|time|space|size))",
    ),
    _r(
        "policy_bypass",
        "jailbreak",
        0.85,
        r"\b(?:ignore|bypass|break|violate|disregard|not (?:bound|restricted) by)\b"
        r"[^.!?\n]{0,30}"
        r"\b(?:openai|anthropic|content|safety|usage|ethical)(?:'s)? (?:content )?"
        r"(?:polic(?:y|ies)|guidelines|filters?|rules)",
    ),
    _r(
        "never_refuse",
        "jailbreak",
        0.75,
        r"\b(?:never|must not|will not|won't|cannot|can't|don't) (?:ever )?(?:refuse|decline|"
        r"say (?:no|that you can't|i'm sorry)|reject)\b[^.!?\n]{0,30}\b(?:request|question|answer|"
        r"anything|prompt)",
    ),
    # Shapes of the well-known jailbreak families (DAN-style dual answers, token games, policy
    # "suspension", AIM/Machiavelli, "hypothetical response"), from their public write-ups.
    _r(
        "dual_answer_tags",
        "jailbreak",
        0.85,
        r"\[(?:\W{0,3}\s*)?(?:jailbreak|classic|dan|developer mode output|normal output|"
        r"jailbroken|unfiltered|evil)\s*\]",
    ),
    _r(
        "ai_special_mode",
        "jailbreak",
        0.85,
        r"\b(?:chatgpt|gpt-?\d?|an? ai|the ai|language model|llm)\b[^.\n]{0,40}"
        r"\b(?:developer|dan|jailbreak|jailbroken|unrestricted|god) mode\b",
    ),
    _r(
        "amoral_ai",
        "jailbreak",
        0.8,
        r"\b(?:amoral|unfiltered|uncensored|unrestricted|unethical|evil)\b[^.\n]{0,12}"
        r"\b(?:ai|chatbot|assistant|model|language model|"
        r"version of (?:chatgpt|gpt|yourself|you))\b",
    ),
    _r(
        "policy_suspended",
        "jailbreak",
        0.85,
        r"\b(?:openai|content|usage|ethical|safety)(?:'s)? (?:content )?"
        r"(?:polic(?:y|ies)|guidelines|rules|filters?|restrictions)\b[^.!?\n]{0,30}"
        r"\b(?:do(?:es)? not apply|don't apply|"
        r"doesn't apply|no longer apply|(?:are|is) (?:suspended|disabled|lifted|off)|"
        r"do(?:es)?n't matter|do(?:es)? not matter)",
    ),
    _r(
        "no_rules_subject",
        "jailbreak",
        0.75,
        r"\b(?:you|dan|it|this ai|the ai|[a-z]*gpt|the bot)\b (?:has|have|will have|now have|"
        r"now has) no (?:rules|restrictions|limits|limitations|boundaries|filters|ethics|morals|"
        r"guidelines|censorship)\b",
    ),
    _r(
        "token_game",
        "jailbreak",
        0.85,
        r"\b(?:\d+|ten|five|thirty|thirty-five) tokens\b[^.\n]{0,80}\b(?:deducted|lose|lost|die|"
        r"run out|cease to exist)",
    ),
    _r(
        "moral_no_matter",
        "jailbreak",
        0.8,
        r"\b(?:no matter how|even if (?:it is|it's)|regardless of how|however)\b[^.\n]{0,20}"
        r"\b(?:immoral|unethical|illegal|dangerous|harmful|offensive|explicit|inappropriate)",
    ),
    _r(
        "machiavellian",
        "jailbreak",
        0.75,
        r"\bmachiavellian\b[^.\n]{0,60}\b(?:chatbot|ai|amoral|unfiltered)",
    ),
    _r(
        "no_longer_ai",
        "jailbreak",
        0.8,
        r"\byou(?: are|'re) (?:no longer|not) (?:chatgpt|an ai|a language model|an assistant|"
        r"bound|restricted|limited)\b",
    ),
    _r(
        "always_comply",
        "jailbreak",
        0.75,
        r"\b(?:you|it|dan|he|she) (?:will|must|should|shall) (?:always )?(?:answer|respond|reply|"
        r"comply|obey)\b[^.\n]{0,40}\b(?:no matter|regardless|whatever|even if|any (?:question|"
        r"request|prompt))",
    ),
    _r(
        "disregard_laws",
        "jailbreak",
        0.7,
        r"\b(?:doesn't|does not|don't|do not|never|won't|will not)\s+(?:care about|follow|abide by|"
        r"adhere to|comply with|respect)\b[^.\n]{0,20}\b(?:any )?"
        r"(?:rules|guidelines|polic(?:y|ies)|restrictions|ethics|morals|laws|principles)",
    ),
    _r("hypothetical_response", "jailbreak", 0.7, r"\bhypothetical response\b"),
    _r("moralizing_rant", "jailbreak", 0.85, r"\bmoraliz\w* rant\b"),
    # Weak alone (tutors and games ask for it too): reported as a score, never decisive.
    _r("stay_in_character", "jailbreak", 0.4, r"\bstay in character\b|\bbreak(?:ing)? character\b"),
    _r(
        "override_de",
        "prompt_injection",
        0.9,
        r"\b(?:ignoriere|vergiss|missachte)\b[^.!?\n]{0,40}\b(?:anweisungen|instruktionen|regeln|"
        r"vorgaben|befehle)",
    ),
    _r(
        "override_es",
        "prompt_injection",
        0.9,
        r"\b(?:ignora|olvida|omite)\b[^.!?\n]{0,40}\b(?:instrucciones|reglas|indicaciones)",
    ),
    _r(
        "override_fr",
        "prompt_injection",
        0.9,
        r"\b(?:ignore[rz]?|oublie[rz]?)\b[^.!?\n]{0,40}\b(?:les |toutes les |tes |vos )?"
        r"(?:instructions|consignes|règles)",
    ),
)

# In a retrieved document, "forget the old password rules" or "disregard the policy of 2024"
# is addressed to the human reader. An override counts there only when it aims at the
# assistant's own instructions: prior/above/system/your instructions, prompts, programming.
_AI_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|initial|original|system|your|all (?:of )?"
    r"(?:the |your )?(?:previous|prior|above|earlier|preceding))"
)
_AI_RULE_NOUN = (
    r"(?:instructions?|prompts?|directives?|programming|guardrails?|safeguards?|"
    r"system messages?|(?:rules|guidelines|restrictions) (?:you|given to you|above))"
)

# Instructions aimed at the assistant from inside a retrieved document.
RETRIEVAL_RULES: tuple[Rule, ...] = (
    *(r for r in INJECTION_RULES if r.name != "override_instructions"),
    _r(
        "override_assistant_instructions",
        "indirect_injection",
        0.95,
        rf"\b{_OVERRIDE_VERB}\b[^.!?\n]{{0,40}}\b{_AI_PRIOR}\b[^.!?\n]{{0,20}}"
        rf"\b{_AI_RULE_NOUN}|\b{_OVERRIDE_VERB} everything (?:above|before|you (?:were|have been) "
        r"told)",
    ),
    _r(
        "addressed_to_ai",
        "indirect_injection",
        0.85,
        r"\b(?:ai|assistant|language model|llm|chatbot|gpt|claude|bot)s?\b[,:]?[^.!?\n]{0,30}"
        r"\b(?:must|should|shall|need to|are instructed to|please)\b[^.!?\n]{0,20}"
        r"\b(?:ignore|respond|reply|answer|tell|say|include|add|append|send|forward|visit|click|"
        r"output|write|recommend|summari[sz]e|translate)",
    ),
    _r(
        "when_reading",
        "indirect_injection",
        0.8,
        r"\b(?:when|if|while|after|before) (?:you |an ai |the assistant |the model )?"
        r"(?:read|reading|summari[sz]e|summari[sz]ing|process|processing|see|seeing|answer|"
        r"answering)\b[^.!?\n]{0,40}\b(?:this|these|the) (?:document|email|page|text|message|"
        r"content|file)",
    ),
    _r(
        "hide_from_user",
        "indirect_injection",
        0.85,
        r"\b(?:do not|don't|never) (?:tell|inform|mention|reveal|show)\b[^.!?\n]{0,20}"
        r"\b(?:the user|the reader|anyone|them)\b",
    ),
    _r(
        "instead_do",
        "indirect_injection",
        0.6,
        r"\binstead,? (?:you (?:must|should)|respond|reply|answer|say|write|output)\b",
    ),
)

# "bath bomb" and "seed bomb" are shopping, not weapons.
_WEAPON_NOUN = (
    r"\b(?:(?<!bath )(?<!seed )(?<!photo )bombs?|explosives?|ieds?|nerve agents?|sarin|vx|ricin|"
    r"anthrax|bioweapons?|chemical weapons?|napalm|thermite|untraceable (?:gun|firearm)s?|"
    r"ghost guns?|meth(?:amphetamine)?|fentanyl|crack cocaine|heroin|molotov)\b"
)

HARM_RULES: tuple[Rule, ...] = (
    _r(
        "weapon_synthesis",
        "weapons",
        0.9,
        r"\b(?:how (?:to|do i|can i|would i|could i)|steps? to|instructions? (?:for|to|on)|guide "
        r"(?:to|for|on)|tutorial|recipe|teach me)\b[^.!?\n]{0,40}\b(?:make|build|synthesi[sz]e|"
        r"manufacture|cook|create|produce|assemble|brew)\b[^.!?\n]{0,30}" + _WEAPON_NOUN,
    ),
    _r(
        "weapon_imperative",
        "weapons",
        0.85,
        r"^\W*(?:please |now |just )?(?:make|build|cook|synthesi[sz]e|manufacture|produce|brew|"
        r"assemble)\b[^.!?\n]{0,20}" + _WEAPON_NOUN,
    ),
    _r(
        "harm_person",
        "violence",
        0.8,
        r"\b(?:how (?:to|do i|can i)|best way to|help me|ways? to|plan to)\b[^.!?\n]{0,20}"
        r"\b(?:kill|murder|poison|kidnap|strangle|stab|torture|assassinate)\b[^.!?\n]{0,10}"
        r"\b(?:my (?:wife|husband|boss|neighbou?r|mother|father|partner|teacher|child|kid)|someone|"
        r"somebody|people|a person|him|her|them|the president|a child)\b",
    ),
    _r(
        "csam",
        "sexual_minors",
        0.99,
        r"\b(?:child|children|minor|minors|underage|preteen|kids?)\b[^.!?\n]{0,20}"
        r"\b(?:porn|pornography|sexual|nude|naked|erotic)\b",
    ),
    _r(
        "self_harm",
        "self_harm",
        0.8,
        r"\b(?:how (?:to|do i|can i)|best way to|painless(?:ly)? way to)\b[^.!?\n]{0,20}"
        r"\b(?:kill myself|commit suicide|end my life|hang myself|overdose on)",
    ),
    _r(
        "malware",
        "cybercrime",
        0.8,
        r"\b(?:write|create|build|code|develop|generate)\b[^.!?\n]{0,30}\b(?:ransomware|keylogger|"
        r"botnet|rootkit|computer virus|worm that|malware|credential stealer|"
        r"phishing (?:kit|page|email))",
    ),
)


# Words an attack on the assistant's instructions almost always uses. The injection model only
# counts when a text has two of them, or one and the model is very sure (classify.model_counts).
# On held-out sources the model alone flagged whole unseen benign styles (persona prompts,
# transactional e-mails) for their style; this evidence gate cut those (persona prompts
# 100% -> 3%, BIPIA e-mails 71% -> 2%) at the cost of some attacks the model alone would have
# caught (bench_detection.py).
ATTACK_EVIDENCE = re.compile(
    r"\b(?:ignore|ignoring|disregard|forget|bypass|override|instructions?|rules|restrictions?|"
    r"restricted|filters?|filtered|censor\w*|polic(?:y|ies)|guidelines|jailbr\w*|dan|unfiltered|"
    r"uncensored|unrestricted|limits?|limitations|anything now|pretend|role-?play|in character|"
    r"persona|developer mode|illegal|unethical|immoral|amoral|ethics|ethical|morals?|not bound|"
    r"system prompt|prompt|openai|chatgpt|gpt|ai|language model|assistant|refuse|refusal|decline|"
    r"apolog\w*|simulate|hypothetical\w*|evil|hack\w*|password|secret|reveal|confidential|"
    # Not "previous", "prior", "above", "earlier": business e-mail says "ignore my previous
    # e-mail" all the time, and with them held-out e-mails were flagged 10% of the time.
    r"verbatim|pwned|"
    r"anweisungen|vorherigen|regeln|instrucciones|anteriores|reglas|consignes|précédentes|"
    r"istruzioni|precedenti|instruções|anteriores)\b"
)


# Retrieved documents are full of rules, policies and passwords addressed to their readers: the
# injection model counts on a chunk only when the chunk talks to or about an AI.
RETRIEVAL_EVIDENCE = re.compile(
    r"\b(?:ai|assistant|chatbot|language model|llm|gpt|chatgpt|openai|claude|system prompt|"
    r"jailbr\w*|dan|developer mode|you are now|role-?play|in character|"
    r"your (?:instructions|rules|guidelines|programming))\b"
)


def evidence(text: str, pattern: re.Pattern[str] = ATTACK_EVIDENCE, enough: int = 2) -> int:
    """How many evidence words the text has, counting at most `enough`."""
    count = 0
    for _ in pattern.finditer(text):
        count += 1
        if count >= enough:
            break
    return count


def best(rules: tuple[Rule, ...], text: str) -> tuple[float, Rule | None]:
    top: Rule | None = None
    for rule in rules:
        if top is not None and rule.score <= top.score:
            continue
        if rule.needles and not any(n in text for n in rule.needles):
            continue
        if rule.pattern.search(text):
            top = rule
    return (top.score, top) if top else (0.0, None)
