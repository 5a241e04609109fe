"""tenantctl: multi-tenant retrieval-augmented generation on one machine.

Shared compute, isolated data: each tenant is a folder holding its config, its SQLite store and its
FAISS index; one embedding model and one local LLM serve every tenant.
"""

import os

# tenantctl's numpy and FAISS work happens at query time on a handful of vectors, where OpenBLAS's
# thread hand-offs cost more than they save (a query's embedding takes half the time single-threaded).
# Bulk embedding runs in ONNX Runtime (or torch), which have threads of their own. An operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
