"""Preprocessing: validate a time course and prepare its representation."""

from ._prepare import prepare

__all__ = ["prepare"]
