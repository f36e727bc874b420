"""The gateway's plain HTTP: the demo page, health, readiness, metrics and status."""
