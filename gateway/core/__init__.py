"""The gateway's core: a call's life from its door's events to the pipeline sessions in Redis and back."""
