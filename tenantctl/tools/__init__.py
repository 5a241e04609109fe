"""Per-tenant tools: a tenant's answers can use its own systems, and nobody else's.

A tool is an entry under `tools:` in tenant.yaml. Its `when` pattern decides deterministically which
questions call it; the pattern's named groups fill the call. Built-in kinds are `http` (GET a JSON or
text endpoint on a host the operator allowed in config.yaml) and `sql` (a read-only, parameterised query
over a SQLite database or CSV file inside the tenant's own folder); installed packages add kinds through
the `tenantctl.tools` entry-point group. A result becomes a numbered passage, cited as `tool:NAME`.

This layer sits between retrieval and answering: it imports storage, config, errors and logs; answering
imports it; it never imports answering, serving or the CLI.
"""
