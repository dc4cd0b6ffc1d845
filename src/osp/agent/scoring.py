"""The semantic tier from inside the agent: the control plane's shared encoder, over the
internal API. The agent image carries no onnxruntime and no model session of its own.

Fail closed: any failure (unreachable, refused, throttled, an answer without every asked head
as a probability) raises ``EncoderError``, which the semantic rail turns into a
``model_unavailable`` reject.
"""

from __future__ import annotations

import math

from osp.agent.internal import InternalApi
from osp.agent.tools.registry import ToolError
from osp.governance.detectors.encoder import EncoderError


class RemoteScorer:
    """Both ``ScorerSource`` (``get``) and ``TextScorer`` (``scores``)."""

    def __init__(self, internal: InternalApi) -> None:
        self._internal = internal

    def get(self) -> RemoteScorer:
        return self

    def scores(self, text: str, heads: tuple[str, ...],
               context: str | None = None) -> dict[str, float]:
        try:
            answer = self._internal.score(text, heads, context)
        except ToolError as exc:
            raise EncoderError(f"the shared scorer could not score: {exc}") from None
        got = answer.get("scores") if isinstance(answer, dict) else None
        if not isinstance(got, dict):
            raise EncoderError("the shared scorer sent a malformed answer")
        out: dict[str, float] = {}
        for head in heads:
            value = got.get(head)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0 or \
                    math.isnan(value):
                raise EncoderError(f"the shared scorer sent no probability for {head!r}")
            out[head] = float(value)
        return out
