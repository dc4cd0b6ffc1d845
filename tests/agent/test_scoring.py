"""The agent's client for the shared scorer fails closed: unreachable control plane -> the
semantic rail rejects (`model_unavailable`), the chunk is not passed."""

from __future__ import annotations

import pytest

from osp.agent.internal import InternalApi
from osp.agent.scoring import RemoteScorer
from osp.governance import MemorySink, Pipeline, Policy, builtin_registry
from osp.governance.detectors.encoder import EncoderError
from osp.governance.interfaces import RailDeps
from tests.slots import free_port


def test_an_unreachable_scorer_rejects_the_chunk() -> None:
    remote = RemoteScorer(InternalApi(f"http://127.0.0.1:{free_port()}", "t", "i", "key"))
    with pytest.raises(EncoderError, match="could not score"):
        remote.scores("a chunk", ("document",))
    policy = Policy.model_validate({"stages": {"retrieval": [{"key": "retrieval.semantic"}]}})
    sink = MemorySink()
    pipe = Pipeline(policy, builtin_registry(), sink, deps=RailDeps(encoders=remote))
    result = pipe.check("retrieval", "Our opening hours are 9 to 5.")
    assert result.action == "reject" and result.reason == "model_unavailable"
    assert [r.reason for r in sink.records] == ["model_unavailable"]
