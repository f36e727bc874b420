"""Conversation analytics of a call, sans I/O: talk, overtalk, interruptions, loudness, phrases, sentiment.

Everything here is pure: the gateway's core feeds it what already flows (the
VAD's speech starts and ends, finals with word timings, the audio it converts) and
renders what comes out (:mod:`gateway.features.analytics`). Times are audio time in
milliseconds from the start of the call's audio.
"""
