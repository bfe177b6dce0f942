"""Use cases of the grading service: the one layer REST, gRPC and tools all call."""
