"""The models the engine ships, as data (JSON, never pickle), installed as ``matcher.models``.

``platforms.json``: the delivery targets ``--target`` takes, each figure with its source.
"""
