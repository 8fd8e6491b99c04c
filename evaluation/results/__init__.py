"""Results: what an evaluation produced, as files other stages read."""
