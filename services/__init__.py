"""CareKey's four services. Each is a package with the same shape (see ../shared/STYLE.md)."""
from shared.settings import DEFAULT_PORTS

# name -> default port; the order is the start order of `carekey run`.
SERVICES: dict[str, int] = dict(DEFAULT_PORTS)
