"""Training records: courses, each person's completions with their expiry, and who lacks what."""
