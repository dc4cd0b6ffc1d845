"""Tools the agent can offer a model, each with a JSON Schema for its arguments."""
