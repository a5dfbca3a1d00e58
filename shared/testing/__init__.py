"""Test fixtures shared by every service's tests (backends, a TCP proxy for outage tests)."""
