"""OSP: one governed AI agent per tenant, each in its own container."""

__version__ = "0.1.0"
