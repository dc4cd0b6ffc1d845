"""Skills: folders on ``/data/skills/<name>/`` with a ``SKILL.md``.

``SKILL.md`` starts with front matter between ``---`` lines (``name``, ``description``,
``allowed_tools`` as a ``[a, b]`` list or ``- item`` lines), followed by the instructions.
A skill can only *narrow* the tenant's tool allow-list: the effective list is the
intersection, so a skill file written by anyone can never grant a tool.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SKILL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
MAX_SKILL_BYTES = 64 * 1024


class SkillError(ValueError):
    pass


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    allowed_tools: tuple[str, ...] | None  # None: no narrowing
    instructions: str

    def narrow(self, allowed: Sequence[str]) -> list[str]:
        if self.allowed_tools is None:
            return list(allowed)
        return [t for t in allowed if t in self.allowed_tools]


def _parse_list(raw: str, following: list[str]) -> tuple[str, ...]:
    raw = raw.strip()
    if raw.startswith("[") and raw.endswith("]"):
        return tuple(p.strip().strip("'\"") for p in raw[1:-1].split(",") if p.strip())
    if raw:
        return (raw.strip("'\""),)
    return tuple(ln.strip()[1:].strip().strip("'\"") for ln in following)


def parse_skill(text: str, folder_name: str) -> Skill:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise SkillError(f"skill {folder_name}: SKILL.md must start with front matter (---)")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise SkillError(f"skill {folder_name}: front matter is not closed") from None
    meta: dict[str, str] = {}
    tools: tuple[str, ...] | None = None
    i = 1
    while i < end:
        line = lines[i]
        key, sep, value = line.partition(":")
        if not sep or line.startswith((" ", "-")):
            i += 1
            continue
        key = key.strip()
        if key == "allowed_tools":
            items = []
            j = i + 1
            while j < end and lines[j].strip().startswith("-"):
                items.append(lines[j])
                j += 1
            tools = _parse_list(value, items)
            i = j
            continue
        meta[key] = value.strip().strip("'\"")
        i += 1
    name = meta.get("name", folder_name)
    if not SKILL_NAME.fullmatch(name):
        raise SkillError(f"skill {folder_name}: invalid name {name[:40]!r}")
    return Skill(name, meta.get("description", ""), tools, "\n".join(lines[end + 1:]).strip())


class Skills:
    def __init__(self, root: Path) -> None:
        self.root = root / "skills"
        self.root.mkdir(parents=True, exist_ok=True)

    def load(self, name: str) -> Skill | None:
        if not SKILL_NAME.fullmatch(name):
            return None
        path = self.root / name / "SKILL.md"
        if not path.is_file() or path.stat().st_size > MAX_SKILL_BYTES:
            return None
        return parse_skill(path.read_text(encoding="utf-8"), name)

    def all(self) -> list[Skill]:
        out = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir():
                try:
                    skill = self.load(folder.name)
                except SkillError:
                    continue
                if skill is not None:
                    out.append(skill)
        return out

    def install(self, name: str, content: str) -> Skill:
        if not SKILL_NAME.fullmatch(name):
            raise SkillError("skill names are 1-40 lowercase letters, digits, '-' or '_'")
        if len(content.encode()) > MAX_SKILL_BYTES:
            raise SkillError("SKILL.md is larger than 64 KiB")
        skill = parse_skill(content, name)  # refuse a broken file before writing it
        folder = self.root / name
        folder.mkdir(exist_ok=True)
        (folder / "SKILL.md").write_text(content, encoding="utf-8")
        return skill
