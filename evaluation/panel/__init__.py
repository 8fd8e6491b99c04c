"""The measure panel: the single tidy format every method reads, and its data-quality rules."""
