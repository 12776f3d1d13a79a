"""Alembic migrations: one head, upgrade from empty to head matches the models,
and downgrade back to empty — on SQLite and on PostgreSQL (``TEST_DATABASE_URL``)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from core import ROOT, create_app
from core.extensions import db

pytestmark = pytest.mark.no_db_isolation


@pytest.fixture
def migration_app(empty_database_url, tmp_path):
    app = create_app(
        "testing",
        overrides={"SQLALCHEMY_DATABASE_URI": empty_database_url, "INSTANCE_PATH": str(tmp_path)},
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_migrations_have_a_single_head():
    from alembic.config import Config

    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}"


def test_upgrade_from_empty_matches_the_models_and_downgrade_empties(migration_app):
    upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        tables = set(inspect(conn).get_table_names())
    assert diff == [], f"models and migrations differ: {diff}"
    assert {"users", "teams", "vendors", "api_keys", "audit_events"} <= tables

    downgrade(revision="base")
    with db.engine.connect() as conn:
        left = set(inspect(conn).get_table_names()) - {"alembic_version"}
    assert left == set()
