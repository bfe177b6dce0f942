"""Entrypoints: REST (FastAPI), gRPC, and the process main. They translate wire shapes only."""
