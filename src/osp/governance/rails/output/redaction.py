"""Output rails that need no model: invisible text and PII/secret redaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from osp.governance.decisions import Stage
from osp.governance.rails.common import PiiRail, UnicodeRail


class OutputUnicodeRail(UnicodeRail):
    key = "output.unicode"
    stage = Stage.OUTPUT


class OutputPiiRail(PiiRail):
    """Redacts what the model should never emit, even if it assembled it from its context."""

    key = "output.pii"
    stage = Stage.OUTPUT

    def actions(self) -> Mapping[str, str]:
        return cast(Mapping[str, str], self.policy.pii.output)
