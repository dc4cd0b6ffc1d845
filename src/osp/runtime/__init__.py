"""Tenant runtime: one hardened container per tenant, its network segment, its lifecycle."""
