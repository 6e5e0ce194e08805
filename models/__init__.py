"""The models the engine ships, as data (JSON, never pickle), installed as ``matcher.models``.

``platforms.json``: the delivery targets ``--target`` takes, each figure with its source.
``starter/``: the starter reference library (profiles of freely licensed music, their
index and the style model: the styles' members and centres; no audio), which ``match``
picks from when given no reference and ``library styles`` lists.
"""
