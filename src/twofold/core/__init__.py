"""The protocol core: knows nothing of HTTP, SQL or Redis (enforced by import-linter)."""
