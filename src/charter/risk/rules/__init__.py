"""The scoring rules shipped with Charter (``default.yaml``), read as package data."""
