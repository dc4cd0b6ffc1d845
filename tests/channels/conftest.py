from tests.gateway.fixtures import NoAgent, client, parts

__all__ = ["NoAgent", "client", "parts"]
