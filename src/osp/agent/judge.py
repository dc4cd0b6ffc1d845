"""The LLM judge's model: the tenant's own configured model, asked once per reply.

The judge rail (``osp.governance.rails.output.judge``) decides; this only carries its question
to the provider the tenant configured, with the rail's deadline as the request timeout and no
retries (a retried judge would outlive the rail's budget and end as a generic timeout).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from osp.agent.config import AgentConfig
from osp.agent.providers import Provider, ProviderError

ProviderFactory = Callable[[AgentConfig, Mapping[str, str]], Provider]


class ProviderJudge:
    """A ``JudgeModel`` over the agent's provider for one configuration."""

    def __init__(self, config: AgentConfig, secrets: Mapping[str, str],
                 factory: ProviderFactory) -> None:
        self._config = config
        self._secrets = secrets
        self._factory = factory

    def judge(self, system: str, prompt: str, timeout_s: float) -> str:
        model = self._config.model
        bounded = model.model_copy(update={"timeout_s": max(0.1, min(timeout_s, model.timeout_s)),
                                           "retries": 0})
        provider = self._factory(self._config.model_copy(update={"model": bounded}),
                                 self._secrets)
        reply = provider.complete(system, [{"role": "user", "content": prompt}], [])
        if reply.tool_calls:
            raise ProviderError("the judge answered with a tool call")
        return reply.text
