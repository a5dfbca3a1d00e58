"""UTC time for the domain (the shared clock)."""
from shared.clock import aware, now

__all__ = ["aware", "now"]
