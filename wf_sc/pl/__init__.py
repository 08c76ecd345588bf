"""Plotting (read-only views of a fit)."""

__all__: list[str] = []
