"""Who may connect and what they may take: API keys, origins, TLS, nonces, per-key limits, and the gate
(:mod:`gateway.security.gate`) that puts every access rule to a request."""
