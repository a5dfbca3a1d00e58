"""CareKey's four services. Each is a package with the same shape (see ../shared/STYLE.md)."""

# name -> default port; the order is the start order of `carekey run`.
SERVICES: dict[str, int] = {
    "identity": 8001,
    "registration": 8002,
    "notifications": 8003,
    "records": 8004,
}
