"""Models: the shared embedder and generators behind small interfaces, chosen by config."""
