"""Storage: the registry, API keys, tenant folders and their SQLite stores, FAISS indexes, chat sessions and usage.

Nothing here imports models, ingestion, retrieval, answering, operations, serving or the CLI."""
