"""Test doubles at the GPU boundary: labelled fakes, never used outside tests.

``fake_vllm`` stands in for the few names of vLLM that the qwen3-vllm engine
uses; ``fake_tokenizer`` for a Hugging Face byte-level BPE tokenizer. They
model the behaviour the engine relies on (concurrent requests, abort, cumulative
outputs, tokens that split multi-byte characters), not the model's accuracy.
"""
