"""``charter demo``: a small organisation seeded so that a newcomer sees something real."""
