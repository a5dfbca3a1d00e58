"""``carekey records ...``: records's operator commands."""
from __future__ import annotations

import click

group = click.Group("records", help="Records gateway: FHIR R4 reads for patients and their proxies.")
