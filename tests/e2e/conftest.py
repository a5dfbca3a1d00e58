"""The provider fixture for the RP-library tests."""
from tests.e2e.rp_harness import provider  # noqa: F401
