"""Pure computations: no web framework, no ORM."""
