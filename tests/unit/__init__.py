"""The fast layer: pure tests, no processes, no Redis, no network (see conftest.py)."""
