"""Policies as code: CEL rules over each model version's facts, with a lifecycle, gates and waivers."""
