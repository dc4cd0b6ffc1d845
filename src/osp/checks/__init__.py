"""One copy of each security check that both the agent image and the control plane apply.

Stdlib only and importing nothing else from OSP: the whole OSP wheel ships in the agent
image with ``--no-deps``, so this package runs in the container as it is, and every layer
(governance, agent, connected-app tools, control plane) can import it without a cycle.

- :mod:`osp.checks.secret_shapes`: the credential shapes masked in logs, audit details and
  by the governance secret detector;
- :mod:`osp.checks.arguments`: tool-argument validation (one meaning of ``pattern``);
- :mod:`osp.checks.outbound`: the agent's outgoing HTTP (no redirects with credentials,
  capped answers, no proxy from the environment);
- :mod:`osp.checks.names`: the tenant-name rule.
"""
