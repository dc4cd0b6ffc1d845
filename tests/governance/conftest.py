from __future__ import annotations

import pytest

from osp.governance import MemorySink, Pipeline, Policy, builtin_registry
from osp.governance.detectors.linear import ModelStore
from osp.governance.interfaces import RailDeps

STORE = _STORE = ModelStore()  # one load of the shipped weights for the whole test session


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def lean(sink: MemorySink) -> Pipeline:
    pipe = Pipeline(
        Policy.preset_policy("lean"), builtin_registry(), sink, deps=RailDeps(models=_STORE)
    )
    yield pipe
    pipe.close()


def build(policy: Policy, sink: MemorySink | None = None, **kw: object) -> Pipeline:
    deps = kw.pop("deps", None) or RailDeps(models=_STORE)
    return Pipeline(policy, builtin_registry(), sink or MemorySink(), deps=deps, **kw)  # type: ignore[arg-type]
