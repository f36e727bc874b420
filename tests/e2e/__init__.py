"""Tests with real processes, a real Redis, loopback connections or the full-size models."""
