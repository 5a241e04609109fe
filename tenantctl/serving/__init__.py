"""Serving: the multi-tenant HTTP API, its tenant pool and fair queue, and the client the CLI uses."""
