"""Answering: grounded, cited answers from retrieved passages and the shared model."""
