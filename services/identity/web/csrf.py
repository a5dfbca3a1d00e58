"""CSRF for identity's forms: the shared double-submit check (shared/csrf.py)."""
from shared.csrf import FIELD, protect, token

__all__ = ["FIELD", "protect", "token"]
