"""Redaction of PCI and PII in transcripts (issue 29), apart from any I/O.

* :mod:`.policy`: the redaction kinds a session may ask for, and their validation
  (all the gateway needs);
* :mod:`.itn`: spoken numbers to digits (inverse text normalisation), by token;
* :mod:`.detect`: which tokens of a text are an entity of a kind asked for;
* :mod:`.audio`: a recording with its redacted spans muted (silence or a tone);
* :mod:`.redactor`: the per-session state machine of the ASR stage, which holds
  back finals that end in digits so that a number read across finals is
  redacted in every piece, masks partials, and saves what it must remember
  in the ASR checkpoint.
"""
