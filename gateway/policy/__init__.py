"""What keys, tenants and calls are allowed and ask for, as plain data: the lowest layer of the gateway.

The API keys file parses into :mod:`.keyfile`'s keys (each with its tenant's settings), analytics
settings into :mod:`.analytics`'s, webhook targets into :mod:`.webhook`'s destinations. Everything
above reads these values; nothing here imports the rest of the gateway, does I/O (but read the
keys file) or holds state.
"""
