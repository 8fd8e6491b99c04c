"""The pipeline: run parameters, the notebook runner and its cache."""
