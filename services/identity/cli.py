"""``carekey identity ...``: identity's operator commands."""
from __future__ import annotations

import click

group = click.Group("identity", help="Identity provider: accounts, clients and signing keys.")
