"""The gateway's core, without sockets: a call's pipeline sessions in Redis, its audio, config and events."""
