"""Compliance: frameworks as data, status per model with the evidence that decided it, attestations,
impact assessments (DPIA, FRIA)."""
