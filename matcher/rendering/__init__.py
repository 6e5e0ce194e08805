"""Render: apply settings to audio."""
