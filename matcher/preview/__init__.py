"""Preview: a report page of what a master does (curves, figures, a fair before/after)."""
