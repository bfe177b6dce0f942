"""Luca's kernel: the concepts every service shares, in plain Python (standard library only)."""
