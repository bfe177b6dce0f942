"""Adapters: DynamoDB, STS credentials, token verification. Only this layer imports AWS SDKs."""
