"""The single-user proxy behind ``jupyter-embedproxy``."""
