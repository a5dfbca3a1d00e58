"""Alembic plumbing shared by every service's migration tree.

Each service keeps its own ``migrations/`` folder and its own version table; its ``env.py`` only
calls :func:`run_migrations` with the service's metadata.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from shared.database import make_engine, normalise_url


def alembic_config(service: str, migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("path_separator", "os")
    config.attributes["url"] = normalise_url(url)
    config.attributes["service"] = service
    return config


def upgrade(config: Config, revision: str = "head") -> None:
    command.upgrade(config, revision)


def check(config: Config) -> None:
    """Raise when the models and the migrations disagree (``alembic check``)."""
    command.check(config)


def run_migrations(metadata: MetaData) -> None:
    """Body of a service's ``env.py``."""
    config = context.config
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    service = config.attributes.get("service", "service")
    options = dict(target_metadata=metadata, version_table=f"alembic_version_{service}",
                   compare_type=True, render_as_batch=url.startswith("sqlite"))
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **options)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()
