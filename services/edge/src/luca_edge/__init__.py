"""The edge's request authorizer (API Gateway REQUEST Lambda authorizer)."""
