"""Retrieval: hybrid search over one tenant's store and index, and its evaluation."""
