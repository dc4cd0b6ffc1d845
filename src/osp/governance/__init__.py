"""OSP governance layer: ordered, fail-closed, audited rails around the model.

Imports nothing from the rest of OSP; it ships inside the agent image.

    from osp.governance import Pipeline, Policy, builtin_registry, MemorySink
    pipe = Pipeline(Policy.preset_policy("lean"), builtin_registry(), MemorySink())
    result = pipe.check("input", "hello")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Loaded on first use (PEP 562): `import osp.governance.cli` (the `osp guard` command) must not
# load the detectors and numpy when the CLI only prints its help.
_HOME = {
    **dict.fromkeys(("Allow", "Alter", "AuditRecord", "Change", "Decision", "Reason", "Reject",
                     "Stage", "StageResult"), "decisions"),
    **dict.fromkeys(("AuditSink", "MemorySink", "NullSink", "Rail", "RailContext", "RailDeps",
                     "ToolCall"), "interfaces"),
    **dict.fromkeys(("Pipeline", "PipelineConfigError", "RailRegistry", "RegistryError"),
                    "pipeline"),
    **dict.fromkeys(("Policy", "PolicyError", "load_policy", "parse_policy"), "policy"),
    "builtin_registry": "rails",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'osp.governance' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"osp.governance.{home}"), name)
    globals()[name] = value
    return value


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
