"""Incident response: incidents on models, their timeline, clocks, containment and post-incident review."""
