"""Rails that run identically on several stages: invisible-text stripping and PII masking."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping

from osp.governance.decisions import Allow, Alter, Change, Decision, Reason
from osp.governance.detectors.normalize import INVISIBLE_RE, TAG_RE
from osp.governance.detectors.pii import find_pii, mask
from osp.governance.interfaces import RailContext
from osp.governance.rails.base import BaseRail


class UnicodeRail(BaseRail):
    """Strips zero-width, bidi-override and tag characters so the model reads what a human sees.

    Stripping (not rejecting) keeps legitimate text with stray joiners usable, while an
    instruction hidden in tag characters disappears before the model can read it.
    """

    def check(self, text: str, ctx: RailContext) -> Decision:
        if text.isascii():
            return Allow()
        changes = tuple(
            Change("tag_char" if TAG_RE.match(m.group()) else "invisible", m.start(), m.end())
            for m in INVISIBLE_RE.finditer(text)
        )
        if not changes:
            return Allow()
        return Alter(INVISIBLE_RE.sub("", text), changes, {"invisible_chars": float(len(changes))})


class PiiRail(BaseRail):
    """Masks or rejects PII and secrets per the policy's entity -> action table."""

    @abstractmethod
    def actions(self) -> Mapping[str, str]:
        """The policy's entity -> action table for this rail's stage."""

    def check(self, text: str, ctx: RailContext) -> Decision:
        actions = self.actions()
        wanted = [e for e, a in actions.items() if a != "allow"]
        if not wanted:
            return Allow()
        findings = find_pii(text, wanted)
        if not findings:
            return Allow()
        scores = {f"pii.{f.entity}": 1.0 for f in findings}
        rejecting = [f for f in findings if actions[f.entity] == "reject"]
        if rejecting:
            secret = any(f.entity == "SECRET" for f in rejecting)
            return self.reject(Reason.SECRET if secret else Reason.PII, scores)
        changes = tuple(Change(f.entity, f.start, f.end) for f in findings)
        return Alter(mask(text, findings), changes, scores)
