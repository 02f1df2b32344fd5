"""The starter policy pack: YAML documents loaded as drafts by ``charter policy pack install``."""
