"""``carekey registration ...``: registration's operator commands."""
from __future__ import annotations

import click

group = click.Group("registration", help="Registration: practices, rosters, invitations and matching.")
