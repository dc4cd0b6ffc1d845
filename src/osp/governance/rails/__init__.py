"""The built-in rails, registered explicitly (never discovered by walking folders)."""

from __future__ import annotations

from osp.governance.pipeline import RailRegistry
from osp.governance.rails.dialog.flows import DialogFlowsRail
from osp.governance.rails.execution.tools import ToolPolicyRail
from osp.governance.rails.input.basic import InputLengthRail, InputPiiRail, InputUnicodeRail
from osp.governance.rails.input.classifiers import InjectionRail, InputModerationRail
from osp.governance.rails.input.semantic import SemanticInputRail
from osp.governance.rails.input.topics import TopicsRail
from osp.governance.rails.output.judge import JudgeRail
from osp.governance.rails.output.redaction import OutputPiiRail, OutputUnicodeRail
from osp.governance.rails.output.safety import OutputModerationRail, SelfCheckRail
from osp.governance.rails.output.semantic import OutputSemanticRail
from osp.governance.rails.retrieval.injection import RetrievalInjectionRail, RetrievalUnicodeRail
from osp.governance.rails.retrieval.semantic import RetrievalSemanticRail

BUILTIN_RAILS = (
    InputUnicodeRail,
    InputLengthRail,
    InputPiiRail,
    InjectionRail,
    TopicsRail,
    InputModerationRail,
    SemanticInputRail,
    DialogFlowsRail,
    RetrievalUnicodeRail,
    RetrievalInjectionRail,
    RetrievalSemanticRail,
    ToolPolicyRail,
    OutputUnicodeRail,
    OutputPiiRail,
    OutputModerationRail,
    SelfCheckRail,
    OutputSemanticRail,
    JudgeRail,
)


def builtin_registry() -> RailRegistry:
    """A fresh, unfrozen registry holding the built-in rails; add custom rails, then build."""
    registry = RailRegistry()
    for rail in BUILTIN_RAILS:
        registry.register(rail)
    return registry
