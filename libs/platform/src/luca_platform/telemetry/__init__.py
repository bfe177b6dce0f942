"""Logs, traces and metrics shared by the service's entrypoints (configured by the composition root)."""
