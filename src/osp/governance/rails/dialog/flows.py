"""Dialog stage placeholder: allowed-path flows arrive with the agent loop. The rail exists so the
stage is never empty (an empty stage fails closed) and so flows slot in without a policy change."""

from __future__ import annotations

from osp.governance.decisions import Allow, Decision, Stage
from osp.governance.interfaces import RailContext
from osp.governance.rails.base import BaseRail


class DialogFlowsRail(BaseRail):
    key = "dialog.flows"
    stage = Stage.DIALOG

    def check(self, text: str, ctx: RailContext) -> Decision:
        return Allow()
