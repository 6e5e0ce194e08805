"""The I/O boundary: audio files in, validated blocks out; atomic writes."""
