"""Album mastering: songs balanced, trimmed and faded, assembled into a CD image and CUE."""
