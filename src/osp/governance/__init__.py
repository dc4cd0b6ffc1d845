"""OSP governance layer: ordered, fail-closed, audited rails around the model.

Imports nothing from the rest of OSP; it ships inside the agent image.

    from osp.governance import Pipeline, Policy, builtin_registry, MemorySink
    pipe = Pipeline(Policy.preset_policy("lean"), builtin_registry(), MemorySink())
    result = pipe.check("input", "hello")
"""

from osp.governance.decisions import (
    Allow,
    Alter,
    AuditRecord,
    Change,
    Decision,
    Reason,
    Reject,
    Stage,
    StageResult,
)
from osp.governance.interfaces import (
    AuditSink,
    MemorySink,
    NullSink,
    Rail,
    RailContext,
    RailDeps,
    ToolCall,
)
from osp.governance.pipeline import Pipeline, PipelineConfigError, RailRegistry, RegistryError
from osp.governance.policy import Policy, PolicyError, load_policy, parse_policy
from osp.governance.rails import builtin_registry

__all__ = [
    "Allow",
    "Alter",
    "AuditRecord",
    "AuditSink",
    "Change",
    "Decision",
    "MemorySink",
    "NullSink",
    "Pipeline",
    "PipelineConfigError",
    "Policy",
    "PolicyError",
    "Rail",
    "RailContext",
    "RailDeps",
    "RailRegistry",
    "Reason",
    "RegistryError",
    "Reject",
    "Stage",
    "StageResult",
    "ToolCall",
    "builtin_registry",
    "load_policy",
    "parse_policy",
]
