"""The ``charter`` command: one command group per module."""
