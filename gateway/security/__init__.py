"""Who may connect and what they may take: API keys, origins, TLS, signatures and per-key limits."""
