"""The tamper-evident audit trail: a hash chain of events with signed checkpoints."""
