"""What every Luca service runs on: settings, AWS clients with per-school sessions, token
verification, the table's conventions and published data contracts, telemetry, error mapping,
gRPC server set-up and process helpers. Imports no service."""
