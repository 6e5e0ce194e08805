"""The ``automaster`` command line."""
