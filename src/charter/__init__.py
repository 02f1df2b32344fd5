"""Charter: a self-hosted security and governance platform for enterprise AI."""

__version__ = "0.1.0"
