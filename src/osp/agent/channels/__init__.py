"""Outbound replies to chat channels, sent from inside the container with the bot tokens the
agent received at boot (the control plane verifies inbound webhooks, the agent answers)."""
