"""VAD worker: batched Silero VAD and endpointing; only speech reaches the ASR."""
