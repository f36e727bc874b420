"""The WebSocket gateway: client protocols in, canonical audio to Redis, results out."""
