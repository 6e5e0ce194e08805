"""Signal processing building blocks: streaming FIR filtering, filter design, envelopes."""
