"""ASR worker: streaming recognition of utterances with partials and one final each."""
