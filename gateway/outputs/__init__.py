"""Where transcripts go besides the caller: the transcript log, followers and the finals webhook."""
