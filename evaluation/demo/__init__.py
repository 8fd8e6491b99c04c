"""Demonstration data with a known truth, and the simulation study that validates the methods."""
