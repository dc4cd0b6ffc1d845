"""Input rails that need no model: invisible text, length cap, PII-in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from osp.governance.decisions import Allow, Decision, Reason, Stage
from osp.governance.interfaces import RailContext
from osp.governance.rails.base import BaseRail
from osp.governance.rails.common import PiiRail, UnicodeRail


class InputUnicodeRail(UnicodeRail):
    key = "input.unicode"
    stage = Stage.INPUT


class InputLengthRail(BaseRail):
    """Caps message size before the costlier rails run; a 1 MB paste is refused in microseconds."""

    key = "input.length"
    stage = Stage.INPUT

    def check(self, text: str, ctx: RailContext) -> Decision:
        limit = self.policy.thresholds.max_input_chars
        if len(text) > limit:
            return self.reject(Reason.TOO_LONG, {"chars": float(len(text))})
        return Allow()


class InputPiiRail(PiiRail):
    key = "input.pii"
    stage = Stage.INPUT

    def actions(self) -> Mapping[str, str]:
        return cast(Mapping[str, str], self.policy.pii.input)
