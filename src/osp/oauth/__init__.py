"""OAuth broker: provider catalog, code + PKCE (S256), sealed tokens, refresh, revocation."""
