"""The data dictionary: sites, measures, layouts and the facts the methods use, loaded and validated."""
