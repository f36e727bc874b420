"""Shared pieces of streamscribe: records, Redis layout, bus, stage runner, settings."""
