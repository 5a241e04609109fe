"""tenantctl: multi-tenant retrieval-augmented generation on one machine.

Shared compute, isolated data: each tenant is a folder holding its config, its SQLite store and its
FAISS index; one embedding model and one local LLM serve every tenant.
"""

__version__ = "0.1.0"
