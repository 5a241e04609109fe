"""Ingestion: files to text, text to chunks, chunks to the store and index; reindex from sources."""
