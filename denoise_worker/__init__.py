"""Denoise worker: streaming DeepFilterNet3 noise suppression before the VAD."""
