"""A call over a client's socket: its life over its pipeline sessions, its parking after a drop, its connection.

Above the core, the doors, the outputs and the key limits, which it puts together
for one socket; below the HTTP routes and the server, which start it.
"""
