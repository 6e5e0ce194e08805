"""Analysis: measure loudness, peaks, dynamics, spectrum and width of audio."""
