"""Compliance reports: a document built from the platform, rendered, stored, hashed and audited."""
