"""Evidence: immutable, typed records attached to a model version (fairness assessments first)."""
