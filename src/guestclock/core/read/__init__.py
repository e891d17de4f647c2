"""Readers of input formats (pure): bytes in, typed values out."""
