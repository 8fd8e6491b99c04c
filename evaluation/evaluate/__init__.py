"""Evaluate a site x domain (and all sites together) from the panel with the methods."""
