"""Fitting: derive mastering settings that move a mix toward its references."""
