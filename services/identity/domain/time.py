"""UTC time for the domain (the shared clock)."""
from shared.clock import aware, epoch, now

__all__ = ["aware", "epoch", "now"]
