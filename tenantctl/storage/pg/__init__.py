"""Tenants in PostgreSQL + pgvector (cluster mode). Pooled tenants share tables isolated by row-level
security; nothing here is imported unless `postgres:` is configured."""
